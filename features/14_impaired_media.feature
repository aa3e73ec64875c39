@REC-FILES-PRESENT
Feature: 14 - Impaired media: the recorder keeps a truthful timeline of what reached it
  Genesys ARE step 7, media side: networks lose, reorder, duplicate and delay packets; Media
  Servers change SSRC, jump sequence numbers and timestamps, suppress silence (RFC 3389 comfort
  noise) and send DTMF as RFC 4733 telephone events, at any ptime. The Media Server emulation
  impairs each replicated stream (seeded: the seed is in the report's notes), and the audio time
  code shows where each 200 ms of what reached the recorder ended up in the recording. A dash
  turns a knob off; times are seconds from the stream start.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true

  @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL @REC-LOSS-SILENCE @REC-REORDER-RESTORED @REC-DUPLICATE-ONCE @RTP-JUMP-RECORDED @RTP-SSRC-CHANGE-RECORDED @REC-DTMF-NOT-AUDIO @REC-CN-NOT-AUDIO @REC-DTMF-METADATA
  Scenario Outline: The recording keeps the timeline of impaired media (<case>)
    Given the Media Server replicates in two-session mode
    And a call from "5551234" to "7001" negotiated with PCMU
    And the Media Server impairs each stream: loss <loss>, bursts <burst>, outage <outage>, reorder <reorder>, duplicates <dup>, jitter <jitter>, late <late>, drift <drift>, seq jump <seqjump>, ts jump <tsjump>, SSRC change <ssrc>, DTX <dtx>, DTMF <dtmf>, ptime <ptime>, extras <extras>, seed <seed>
    When the call is established and lasts 2 seconds
    And the call is released
    Then each stream's audio is in the recording under its own DN
    And the recording of the call holds both streams complete
    And the recording keeps the timeline of what reached the recorder
    And the recording's metadata notes the DTMF events sent

    Examples:
      | case              | loss | burst    | outage  | reorder | dup | jitter | late | drift | seqjump  | tsjump    | ssrc | dtx     | dtmf      | ptime | extras         | seed |
      | random loss       | 0.08 | -        | -       | -       | -   | -      | -    | -     | -        | -         | -    | -       | -         | -     | -              | 11   |
      | bursty loss       | -    | 0.08/0.4 | -       | -       | -   | -      | -    | -     | -        | -         | -    | -       | -         | 30    | -              | 12   |
      | long outage       | -    | -        | 0.8+0.5 | -       | -   | -      | -    | -     | -        | -         | -    | -       | -         | -     | -              | 13   |
      | reordered         | -    | -        | -       | 3       | -   | -      | -    | -     | -        | -         | -    | -       | -         | 10    | -              | 14   |
      | duplicated        | -    | -        | -       | -       | 0.1 | -      | -    | -     | -        | -         | -    | -       | -         | 40    | -              | 15   |
      | jittered, late    | -    | -        | -       | -       | -   | 40     | 0.03 | -     | -        | -         | -    | -       | -         | -     | -              | 16   |
      | drifting, jumps   | -    | -        | -       | -       | -   | -      | -    | 100   | 0.9+1000 | 1.1+80000 | -    | -       | -         | 60    | -              | 17   |
      | changed source    | -    | -        | -       | -       | -   | -      | -    | -100  | -        | -         | 1.0  | -       | -         | -     | pad+ext+csrc=2 | 18   |
      | suppressed, DTMF  | -    | -        | -       | -       | -   | -      | -    | -     | -        | -         | -    | 0.6+0.4 | 1.3+0.3+5 | -     | -              | 19   |
