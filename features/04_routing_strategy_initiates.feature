Feature: 04 - A routing strategy starts or suppresses recording in TRouteCall
  Genesys ARE step 4: the routing strategy answers EventRouteRequest with TRouteCall whose
  Extensions carry `record`: source / destination start recording of that side when the routed
  call is established; disable_source / disable_destination suppress a recording the DN's own
  option would start ("DN Recording Override", SIPS-DNOvr).

  Background:
    Given the recorder under test is running
    And "routing strategy" is a T-Lib client that registered DN "RP-9000"
    And the call waits at routing point "RP-9000"

  @ARE-04-ROUTE-RECORD @ARE-06-TWO-INVITES-PER-CALL @ARE-06-RURI-PARAMS @REC-AUDIO-COMPLETE
  Scenario Outline: record=<record> in TRouteCall records the routed call
    Given agent DN "7001" has no recording option
    And a call from "5551234" to "7001" negotiated with PCMA
    When the call is established and lasts 0 seconds
    And the routing strategy routes the call to "7001" with record=<record>
    And the call goes on for 2 seconds
    And the call is released
    Then the recorder received 2 recording sessions for the call
    And every recording INVITE Request-URI names "<record_dn>" as the initiating DN
    And the recording of the call holds both streams complete

    Examples:
      | record      | record_dn |
      | source      | 5551234   |
      | destination | 7001      |

  @ARE-04-ROUTE-DISABLE
  Scenario: record=disable_destination overrides the agent DN's record=true
    Given agent DN "7001" is configured with record=true
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 0 seconds
    And the routing strategy routes the call to "7001" with record=disable_destination
    And the call goes on for 1 seconds
    And the call is released
    Then SIP Server decided not to record the call
    And the recorder received 0 recording sessions for the call
