@ARE-05-MEDIA-CONTROL-PER-PARTY
Feature: 05 - SIP Server has Media Server replicate the call's two RTP streams
  Genesys ARE step 5: SIP Server, as media controller, asks Media Server to replicate the
  call's media, one media-control leg per party, and the recording context (record id,
  CallUUID, recorded DN, initiating DN) travels to Media Server, which puts it in the
  Request-URI of each recording session (GVP-MSRec).

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true

  @ARE-06-RURI-PARAMS
  Scenario Outline: One replication job per party carries the call's context (<mode>)
    Given the Media Server replicates in <mode> mode
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the call is released
    Then SIP Server asked Media Server to replicate 2 streams, one per party
    And every recording INVITE Request-URI carries record, calluuid, dn and recordDN of the call

    Examples:
      | mode           |
      | two-session    |
      | single-session |
