@RTP-STREAM-RECEIVED @REC-FILES-PRESENT
Feature: 07 - Recording starts: the replicated RTP is received and recorded
  Genesys ARE step 7: with the sessions up, the recorder receives each replicated stream on
  the port of its SDP answer and records it. Each stream carries an audio time code (stream
  identity + segment counter), so the recording itself proves which audio was kept, where.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true

  @REC-STREAM-CHANNEL @REC-AUDIO-COMPLETE @REC-METADATA @RTP-SEQ-CONTINUITY @RTP-PT-MATCHES-SDP @RTP-NO-MEDIA-ON-RECVONLY
  Scenario Outline: Both streams are recorded completely in the right place (<mode>, <codec>, <seconds> s)
    Given the Media Server replicates in <mode> mode
    And a call from "5551234" to "7001" negotiated with <codec>
    When the call is established and lasts <seconds> seconds
    And the call is released
    Then each stream's RTP reached the port the recorder answered, with no loss
    And each stream's audio is in the recording under its own DN
    And the recording of the call holds both streams complete
    And the recording's metadata names the call, the record id and each stream's DN

    Examples:
      | mode           | codec | seconds |
      | two-session    | PCMU  | 3       |
      | two-session    | PCMA  | 3       |
      | two-session    | G722  | 2       |
      | single-session | PCMU  | 3       |
      | two-session    | PCMU  | 4       |
      | siprec         | PCMU  | 2       |
