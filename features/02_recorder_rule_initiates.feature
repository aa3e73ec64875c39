Feature: 02 - The recorder's own rule starts recording over T-Lib
  Genesys ARE step 2: the recorder is a T-Lib client of SIP Server. It registers the DNs it
  handles, is told about their calls (EventEstablished), evaluates its own recording rule and,
  when the rule selects the call, asks SIP Server to record it with TRequestPrivateService
  GSIP_RECORD_START on behalf of that DN. A call its rule does not select must not be recorded;
  a start SIP Server refuses (EventError: the call is already recorded) must not disturb the
  recording that runs. Needs a recorder that is a T-Lib client whose rules the harness can set.

  Background:
    Given the recorder under test is running
    And customer DN "5551234" has no recording option

  @ARE-02-RULE-START @ARE-08-REGISTER-DNS @ARE-06-TWO-INVITES-PER-CALL @ARE-06-RURI-PARAMS @REC-AUDIO-COMPLETE
  Scenario: A rule selecting the agent DN records the established call
    Given agent DN "7001" has no recording option
    And the recorder has a rule recording calls on "70*" with share 1 and record=source
    And the recorder registers DN "7001" with the T-Server
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 2 seconds
    And the call is released
    Then the recorder asked SIP Server to record the call on behalf of "7001"
    And the recorder received 2 recording sessions for the call
    And every recording INVITE Request-URI names "7001" as the initiating DN
    And the recording of the call holds both streams complete

  @ARE-02-RULE-NO-MATCH @ARE-08-REGISTER-DNS
  Scenario Outline: No recording when the rule does not select the call (<why>)
    Given agent DN "7001" has no recording option
    And the recorder has a rule recording calls on "<pattern>" with share <share> and record=source
    And the recorder registers DN "7001" with the T-Server
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 2 seconds
    And the call is released
    Then the recorder did not ask SIP Server to record the call
    And SIP Server decided not to record the call
    And the recorder received 0 recording sessions for the call

    Examples:
      | why                         | pattern | share |
      | the DN does not match       | 71*     | 1     |
      | a share of 0 % of the calls | 70*     | 0     |

  @ARE-02-START-REFUSED @ARE-08-REGISTER-DNS @REC-AUDIO-COMPLETE
  Scenario: The call is already recorded by the DN option: the recorder's start is refused, the recording goes on
    Given agent DN "7001" is configured with record=true
    And the recorder has a rule recording calls on "70*" with share 1 and record=source
    And the recorder registers DN "7001" with the T-Server
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 2 seconds
    And the call is released
    Then SIP Server recorded the call once
    And the recorder received 2 recording sessions for the call
    And the recording of the call holds both streams complete
    And the recorder's own start request was refused with EventError and it kept serving
