@ARE-06-TWO-INVITES-PER-CALL
Feature: 06 - Media Server opens the recording sessions and sends the replicated RTP
  Genesys ARE step 6: Media Server sends SIP INVITEs to the recording server - two sessions,
  one per participant, or one session carrying both streams - with an SDP copied from the
  call's negotiated codec, a=sendonly. The recorder must answer 200 OK with recvonly media.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true

  @SIP-DIALOG-ESTABLISHED @SIP-RESP-CODES @SIP-MESSAGE-WELLFORMED @SDP-ANSWER-RECVONLY @SDP-MLINE-ORDER @SDP-CODEC-ACCEPTED
  @REP-SENT-RECEIVED @REP-SENT-UNALTERED @REP-SENT-NO-EXTRA @REP-SENT-NO-DUPLICATE @REP-SENT-IN-ORDER @REP-SENT-DELAY
  Scenario Outline: The recorder accepts the recording sessions (<mode>, <codec>)
    Given the Media Server replicates in <mode> mode
    And a call from "5551234" to "7001" negotiated with <codec>
    When the call is established and lasts 1 seconds
    And the call is released
    Then every recording INVITE was answered 200 OK with a To tag and acknowledged
    And every SDP answer is recvonly on each audio m-line, in the offer's m-line order, with the offered codec
    And the recorder received <sessions> recording sessions for the call
    And what Media Server sent reached the recorder's port unchanged

    @ARE-06-SINGLE-SESSION
    Examples: one session carrying both streams
      | mode           | codec | sessions |
      | single-session | PCMU  | 1        |
      | single-session | PCMA  | 1        |

    Examples: one session per stream
      | mode        | codec | sessions |
      | two-session | PCMU  | 2        |
      | two-session | PCMA  | 2        |

  @REC-STREAM-CHANNEL
  Scenario Outline: The two INVITEs may arrive in either order (<first> first)
    Given a call from "5551234" to "7001" negotiated with PCMU
    And the Media Server sends the recording INVITE of the <first> stream first
    When the call is established and lasts 2 seconds
    And the call is released
    Then the recorder received 2 recording sessions for the call
    And each stream's audio is in the recording under its own DN

    Examples:
      | first    |
      | customer |
      | agent    |

  @SIP-OPTIONS-200 @SIP-OPTIONS-BUSY-RETRY-AFTER
  Scenario: The recorder answers the Resource Manager's OPTIONS ping
    When the Media Server side sends an OPTIONS ping to the recorder
    Then the recorder answered the OPTIONS ping

  # The capture holds the call's own RTP legs (customer gateway <-> agent phone) next to the
  # replicas: each replica must carry its party's original payload, none lost or altered
  # (harness.validators.replication pairs the streams by payload and measures delay and loss).
  @REP-PAYLOAD-FIDELITY
  Scenario Outline: The replicated RTP carries the call's original payload (<mode>)
    Given the Media Server replicates in <mode> mode
    And a call from "5551234" to "7001" negotiated with PCMU
    And the call's original RTP legs are in the capture
    When the call is established and lasts 2 seconds
    And the call is released
    Then the recorder received <sessions> recording sessions for the call
    And the replicated RTP carries the same payload as the call's original legs
    And the recording of the call holds both streams complete

    Examples:
      | mode           | sessions |
      | two-session    | 2        |
      | single-session | 1        |
