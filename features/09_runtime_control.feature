Feature: 09 - Pause, resume, stop and start at any time
  Genesys ARE step 9: the recorder or another T-Lib client sends TRequestPrivateService to
  pause, resume, stop or start recording at any time; SIP Server turns each into an MSML INFO
  to Media Server. What the recorder then sees is not published (DOMAIN.md §4.6), so every
  profile is exercised: the RTP stops (timestamps jump on resume), silence keeps flowing, or
  a re-INVITE a=inactive / a=sendonly. The PCI rule: no audio sent while paused may be found
  in the recording, and the recording stays on wall-clock time.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true
    And "agent desktop" is a T-Lib client that registered DN "7001"

  @ARE-09-PAUSE-RESUME @REC-PAUSE-NO-AUDIO @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  Scenario Outline: Pause and resume mid-call (<profile>)
    Given the pause profile is <profile>
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And "agent desktop" asks SIP Server to pause recording
    And the call goes on for 1 seconds
    And "agent desktop" asks SIP Server to resume recording
    And the call goes on for 1 seconds
    And the call is released
    Then no audio sent while the recording was paused is in the recording
    And the recording stays aligned with wall-clock time and holds every segment sent outside the pause

    Examples:
      | profile   |
      | rtp-stops |
      | silence   |
      | reinvite  |

  @ARE-09-STOP-START
  Scenario: Stop then start gives a new recording of the same call
    Given a call from "5551234" to "7001" negotiated with PCMA
    When the call is established and lasts 1 seconds
    And "agent desktop" asks SIP Server to stop recording
    And the call goes on for 1 seconds
    And "agent desktop" asks SIP Server to start recording with record=source
    And the call goes on for 1 seconds
    And the call is released
    Then the recorder holds 2 complete recordings of the call with different record ids
