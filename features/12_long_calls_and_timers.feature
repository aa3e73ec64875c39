@RTP-STREAM-RECEIVED @REC-FILES-PRESENT
Feature: 12 - Long calls: RTP counters that wrap, an SSRC change, an hour, INVITE retransmissions
  A recording session can last as long as the call. Over a long call the RTP sequence number
  (16 bits, 50 packets a second: once every 22 minutes) and the RTP timestamp (32 bits, from a
  random start) wrap around (RFC 3550 §5.1), and a Media Server may change a stream's SSRC
  mid-call on the same ports, with new, unrelated counters (RFC 3550 §8.2; e.g. when the media
  is re-originated). A recorder that compares the counters as plain numbers, or keys a stream by
  its first SSRC, loses the rest of the call. Here the Media Server starts the counters just
  before the wrap point (the wrap happens within seconds) and the time code in the recording
  proves that nothing was lost or shifted. The agent's stream wraps (or changes SSRC) 25 packets
  after the customer's. The hour-long soak runs only on demand (tag @soak: `--arec-soak` or
  AREC_SOAK=1; README "Long calls and the soak"). Over UDP the Media Server's INVITE is
  retransmitted when a response is lost (RFC 3261 §17.1.1.2): one INVITE transaction, one
  recording session.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true

  @RTP-WRAP-RECORDED @RTP-SEQ-CONTINUITY @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  Scenario: RTP sequence numbers and timestamps that wrap mid-call are recorded without a gap
    Given the Media Server replicates in two-session mode
    And a call from "5551234" to "7001" negotiated with PCMU
    And the Media Server starts each stream's RTP sequence number 40 packets and its RTP timestamp 90 packets before they wrap
    When the call is established and lasts 3 seconds
    And the call is released
    Then each stream's RTP reached the port the recorder answered, with no loss
    And each stream's recording is complete across its sequence-number and timestamp wraps

  @RTP-SSRC-CHANGE @RTP-SSRC-CHANGE-RECORDED @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  Scenario: A stream whose SSRC changes mid-call keeps being recorded in its own channel
    Given the Media Server replicates in two-session mode
    And a call from "5551234" to "7001" negotiated with PCMA
    And the Media Server changes each stream's SSRC after 60 packets, keeping its ports
    When the call is established and lasts 3 seconds
    And the call is released
    Then each stream's RTP reached the port the recorder answered, with no loss
    And the capture shows each stream's SSRC change
    And each stream's recording is complete across its SSRC change

  @soak @RTP-WRAP-RECORDED @RTP-SEQ-CONTINUITY @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL @REC-METADATA
  Scenario: A one-hour call is recorded completely (soak, on demand only)
    Given the Media Server replicates in two-session mode
    And a call from "5551234" to "7001" negotiated with PCMU
    And the Media Server starts each stream's RTP sequence number 3000 packets and its RTP timestamp 90000 packets before they wrap
    When the call is established and lasts 3600 seconds
    And the call is released
    Then each stream's RTP reached the port the recorder answered, with no loss
    And each stream's recording is complete across its sequence-number and timestamp wraps
    And the recording's metadata names the call, the record id and each stream's DN

  @SIP-INVITE-RETRANS-ONE-SESSION
  Scenario: An INVITE retransmitted over UDP after a lost 200 gets the same 200 and stays one session
    When the Media Server side retransmits its recording INVITE over UDP after the recorder's 200
    Then the recorder answered the retransmission with the same 200 and kept one session

  # Whether Genesys Media Server runs session timers on its recording legs is not published
  # (docs/genesys-flow.md §10): these probes act as a Media Server that does (Supported: timer,
  # refresher=uac). A recorder that does not use session timers is allowed to (RFC 4028): the
  # 422 rule is then not applicable; the refreshes must still be answered.
  @SIP-SESSION-TIMER-422
  Scenario: A session interval below 90 seconds is refused with 422 and Min-SE
    When the Media Server side asks for a session interval below 90 seconds
    Then the recorder answered 422 with a Min-SE of at least 90 seconds, or does not use session timers

  @SIP-SESSION-TIMER-REFRESH
  Scenario: Session refreshes by re-INVITE and by UPDATE keep the recording session
    When the Media Server side refreshes its recording session by re-INVITE and then by UPDATE
    Then the recorder answered each refresh 2xx, with Session-Expires when it uses session timers

  # ~60 s (the recorder's BYE is due 60 s after its 200 for the 90 s interval, the smallest Min-SE
  # allows, RFC 4028 §4, §10; at most 95 s): on demand only, like the hour-long call (tag @soak;
  # README "Long calls and the soak"). The stream is offered inactive, so no RTP timeout ends it
  # first (RFC 3264 §6.1); the recorder must send the BYE, ending only its recording is not enough.
  @soak @SIP-SESSION-TIMER-EXPIRY
  Scenario: When the refreshes stop, the recorder ends the session by its expiry (on demand only)
    When the Media Server side stops refreshing its recording session for longer than its interval
    Then the recorder ended the recording session by its expiry
