Feature: 09 - Pause, resume, stop and start at any time
  Genesys ARE step 9: the recorder or another T-Lib client (a party's agent desktop, a
  supervisor whose DN is not on the call) sends TRequestPrivateService to pause, resume, stop
  or start recording at any time; SIP Server turns each into an MSML INFO
  to Media Server. What the recorder then sees is not published (docs/genesys-flow.md §4.6), so every
  profile is exercised: the RTP stops (timestamps jump on resume), silence keeps flowing, or
  a re-INVITE a=inactive / a=sendonly. The PCI rule: no audio sent while paused may be found
  in the recording, and the recording stays on wall-clock time.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true
    And "agent desktop" is a T-Lib client that registered DN "7001"

  @ARE-09-PAUSE-RESUME @REC-PAUSE-NO-AUDIO @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  @SIP-REINVITE-ANSWERED @SDP-ANSWER-INACTIVE @SDP-ORIGIN-KEPT
  Scenario Outline: Pause and resume mid-call by the <requester> (<profile>)
    Given the pause profile is <profile>
    And "<requester>" can pause the recording
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And "<requester>" pauses the recording
    And the call goes on for 1 seconds
    And "<requester>" resumes the recording
    And the call goes on for 1 seconds
    And the call is released
    Then every re-INVITE of the recording sessions was answered as RFC 3264 asks
    And no audio sent while the recording was paused is in the recording
    And the recording stays aligned with wall-clock time and holds every segment sent outside the pause

    # The recorder's own trigger: the agent desktop sets the call's PCI key, the recorder then
    # sends GSIP_RECORD_PAUSE / GSIP_RECORD_RESUME itself.
    @ARE-09-PAUSE-BY-RECORDER @ARE-08-REGISTER-DNS
    Examples: the recorder itself
      | requester | profile   |
      | recorder  | rtp-stops |
      | recorder  | silence   |
      | recorder  | reinvite  |

    Examples: a party's desktop and a supervisor DN not on the call
      | requester     | profile   |
      | agent desktop | rtp-stops |
      | agent desktop | silence   |
      | agent desktop | reinvite  |
      | supervisor    | rtp-stops |
      | supervisor    | silence   |
      | supervisor    | reinvite  |

  # SIPREC mode: the SRC pauses by re-INVITE a=inactive and resumes by a=sendonly (RFC 7866
  # §7.1.1.2) on its one recording session; the RTP-stops and silence profiles are the ARE
  # Media Server's (docs/genesys-flow.md §4.6), not rows here.
  @ARE-09-PAUSE-RESUME @REC-PAUSE-NO-AUDIO @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  @SIP-REINVITE-ANSWERED @SDP-ANSWER-INACTIVE @SDP-ORIGIN-KEPT
  Scenario Outline: Pause and resume over SIPREC by the <requester> (re-INVITE a=inactive, RFC 7866 §7.1.1.2)
    Given the Media Server replicates in siprec mode
    And the pause profile is reinvite
    And "<requester>" can pause the recording
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And "<requester>" pauses the recording
    And the call goes on for 1 seconds
    And "<requester>" resumes the recording
    And the call goes on for 1 seconds
    And the call is released
    Then every re-INVITE of the recording sessions was answered as RFC 3264 asks
    And no audio sent while the recording was paused is in the recording
    And the recording stays aligned with wall-clock time and holds every segment sent outside the pause

    Examples:
      | requester     |
      | agent desktop |

  @ARE-09-CONTROL-ERRORS @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  Scenario Outline: A control request SIP Server cannot perform gets EventError <code>: <request>
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And "agent desktop" sends <request>
    And the call goes on for 1 seconds
    And the call is released
    Then SIP Server answered EventError <code>
    And the recording of the call holds both streams complete

    Examples:
      | request                                            | code |
      | a pause for an unknown ConnID                      | 202  |
      | a pause on behalf of DN "7999" it did not register | 201  |
      | a resume while the recording is not paused         | 203  |
      | a stop when no recording runs                      | 203  |

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
