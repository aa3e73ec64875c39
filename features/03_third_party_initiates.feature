@ARE-03-THIRD-PARTY-START
Feature: 03 - A third party starts recording over T-Lib
  Genesys ARE step 3: another T-Lib client - an agent desktop, or a supervisor whose DN is not
  a party on the call - sends TRequestPrivateService with PrivateMsgID GSIP_RECORD_START on the
  call's ConnID, on behalf of a DN it registered (GVP-TLib). SIP Server then has Media Server
  replicate the call exactly as for the other initiation paths (steps 5-10).

  Background:
    Given the recorder under test is running
    And customer DN "5551234" has no recording option
    And agent DN "7001" has no recording option

  @ARE-06-TWO-INVITES-PER-CALL @ARE-06-RURI-PARAMS @REC-AUDIO-COMPLETE @REC-STREAM-CHANNEL
  Scenario Outline: The <requester> starts recording of an established call (record=<side>)
    Given "<requester>" is a T-Lib client that registered DN "<dn>"
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And "<requester>" asks SIP Server to start recording with record=<side>
    And the call goes on for 2 seconds
    And the call is released
    Then the recorder received 2 recording sessions for the call
    And every recording INVITE Request-URI names "<record_dn>" as the initiating DN
    And the recording of the call holds both streams complete

    Examples:
      | requester     | dn   | side        | record_dn |
      | agent desktop | 7001 | source      | 7001      |
      | supervisor    | 7100 | destination | 7001      |
