@ARE-10-BYE-ENDS-STREAM @ARE-10-FILES-FINALISED
Feature: 10 - The recording ends when BYE ends each stream's session
  Genesys ARE step 10: SIP signalling on each stream's session shows the call ended (BYE)
  and the recorder stops recording that stream and finalises the recording.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true

  Scenario Outline: BYE on each stream, in either order (<first> first)
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 2 seconds
    And the Media Server ends the <first> stream's session first
    Then every BYE was answered 200 OK
    And the recording is finalised with both streams

    Examples:
      | first    |
      | customer |
      | agent    |

  Scenario: BYE on one stream only leaves the other stream recording
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 2 seconds
    And the Media Server ends the customer stream's session
    And the agent stream goes on for 2 more seconds
    And the call is released
    Then every BYE was answered 200 OK
    And the customer stream's recording stops when its BYE arrived
    And the agent stream's recording is complete up to its own BYE

  @ARE-10-BYE-BEFORE-RTP
  Scenario: BYE before any RTP is answered and leaves a consistent recording
    Given a call from "5551234" to "7001" negotiated with PCMU
    And the Media Server sends no RTP
    When the call is established and lasts 0 seconds
    And the call is released
    Then every BYE was answered 200 OK
    And the recording is finalised and holds no audio

  # One recording session carries both streams (single-session mode, and SIPREC: RFC 7866 §6):
  # its one BYE ends them both. The per-stream BYE orders above have no SIPREC equivalent.
  Scenario Outline: The one BYE of a session carrying both streams ends the recording (<mode>)
    Given the Media Server replicates in <mode> mode
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the call is released
    Then every BYE was answered 200 OK
    And the recording is finalised with both streams

    Examples:
      | mode           |
      | single-session |
      | siprec         |
