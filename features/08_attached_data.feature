Feature: 08 - The recorder fetches the call's attached data over T-Lib
  Genesys ARE step 8: the recorder, a T-Lib client, gets the call's context over T-Lib - the
  attached data (UserData) in the call events, in EventAttachedDataChanged and in answers to
  its queries - and keeps it with the recording. Data is attached at the routing point (the
  routing strategy's TRouteCall) and by the agent desktop (RequestAttachUserData), before the
  recording starts and while it runs (RequestUpdateUserData). Needs a recorder that is a T-Lib
  client and keeps attached data in its recording metadata.

  Background:
    Given the recorder under test is running
    And the recorder keeps the call's attached data in its metadata
    And agent DN "7001" is configured with record=true
    And the recorder registers DN "7001" with the T-Server
    And "agent desktop" is a T-Lib client that registered DN "7001"

  @ARE-08-ATTACHED-DATA @ARE-08-ATTACHED-DATA-UPDATED @ARE-08-REGISTER-DNS
  Scenario: Data attached at the routing point and by the agent desktop, then updated, is in the metadata
    Given "routing strategy" is a T-Lib client that registered DN "RP-9000"
    And the call waits at routing point "RP-9000"
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 0 seconds
    And "agent desktop" attaches "AccountId"="A-12345" to the call
    And the routing strategy routes the call to "7001" attaching "Segment"="gold"
    And the call goes on for 1 seconds
    And "agent desktop" updates "Segment" to "platinum"
    And the call goes on for 1 seconds
    And the call is released
    Then the recording's metadata holds the attached data "AccountId"="A-12345"
    And the recording's metadata holds the updated attached data "Segment"="platinum"
    And the recording of the call holds both streams complete

  @ARE-08-ATTACHED-DATA-UPDATED @ARE-08-REGISTER-DNS
  Scenario: Data the agent desktop attaches while the recording runs is in the metadata
    Given a call from "5551234" to "7001" negotiated with PCMA
    When the call is established and lasts 1 seconds
    And "agent desktop" attaches "CaseId"="C-42" to the call
    And the call goes on for 1 seconds
    And the call is released
    Then the recording's metadata holds the updated attached data "CaseId"="C-42"
