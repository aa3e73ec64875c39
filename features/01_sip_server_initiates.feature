@ARE-01-DN-ALWAYS-RECORD
Feature: 01 - SIP Server initiates recording because a DN is set to always record
  Genesys ARE step 1: a DN configured with [TServer] record=true is recorded full time by
  SIP Server itself, with no T-Lib request. After the trigger the rest of the flow (steps
  5-10) is the same for every initiation path.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true
    And customer DN "5551234" has no recording option

  @ARE-06-TWO-INVITES-PER-CALL @REC-FILES-PRESENT @REC-AUDIO-COMPLETE
  Scenario Outline: A call to an always-record DN is recorded end to end (<codec>, <seconds> s)
    Given a call from "5551234" to "7001" negotiated with <codec>
    When the call is established and lasts <seconds> seconds
    And the call is released
    Then SIP Server decided to record the call from the "7001" side
    And the recorder received 2 recording sessions for the call
    And the recording of the call holds both streams complete

    Examples:
      | codec | seconds |
      | PCMU  | 2       |
      | PCMA  | 2       |
      | PCMU  | 3       |

  Scenario: A call between DNs that are not set to record is not recorded
    Given a call from "5551234" to "7002" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the call is released
    Then SIP Server decided not to record the call
    And the recorder received 0 recording sessions for the call
