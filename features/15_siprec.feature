@SRS-RS-ACCEPTED @SRS-FEATURE-TAG @SRS-OFFER-SIPREC @SRS-OFFER-LABELS @SRS-METADATA-WELLFORMED @SRS-METADATA-LABELS-ASSOCIATED
Feature: 15 - SIPREC: the recorder as a Session Recording Server (RFC 7866, RFC 7865)
  Instead of Media Server's per-party sessions, a SIPREC recording client (an SBC next to SIP
  Server) opens one recording session per call: Require: siprec, +sip.src in its Contact, a
  multipart/mixed body with the SDP - one sendonly m-line per party, each with a=label - and
  the RFC 7865 metadata naming the participants and which stream each one sends. The SRS
  answers recvonly per label with +sip.srs in its Contact, keeps the participant <-> stream map,
  applies the updates the SRC sends over the call's life, and records each labelled stream.

  Background:
    Given the recorder under test is running
    And agent DN "7001" is configured with record=true
    And the call is recorded over SIPREC

  @SIP-DIALOG-ESTABLISHED @SDP-ANSWER-RECVONLY @SDP-MLINE-ORDER @SDP-CODEC-ACCEPTED @REC-STREAM-CHANNEL
  @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario Outline: One recording session per call, a labelled stream per participant (<codec>)
    Given a call from "5551234" to "7001" negotiated with <codec>
    When the call is established and lasts 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And every recording INVITE was answered 200 OK with a To tag and acknowledged
    And every SDP answer is recvonly on each audio m-line, in the offer's m-line order, with the offered codec
    And each stream's audio is in the recording under its own DN
    And the recording keeps the metadata's participant map, each participant's audio in its stream

    Examples:
      | codec |
      | PCMU  |
      | PCMA  |

  @SRS-NO-INITIAL-METADATA @SIP-REINVITE-ANSWERED @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario: No metadata in the INVITE, the complete metadata sent later by re-INVITE (RFC 7866 §9)
    Given the SRC sends no metadata in the INVITE
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the SRC sends the metadata by re-INVITE
    And the call goes on for 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And every re-INVITE of the recording sessions was answered as RFC 3264 asks
    And the recording keeps the metadata's participant map, each participant's audio in its stream

  @SRS-NO-INITIAL-METADATA @SRS-SNAPSHOT-REQUEST @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario: No metadata at all: the SRS asks for a snapshot, the SRC answers with the complete metadata (RFC 7866 §9.2)
    Given the SRC sends no metadata in the INVITE
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the SRC answers the SRS's metadata snapshot request with the complete metadata
    And the call goes on for 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And the SRS asked the SRC for a metadata snapshot
    And the recording keeps the metadata's participant map, each participant's audio in its stream

  @SRS-EXTENSIONS-IGNORED @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario: Vendor extension elements in the metadata are ignored (a Genesys CallUUID element)
    Given the SRC's metadata carries a vendor extension element
    And a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And the recording keeps the metadata's participant map, each participant's audio in its stream

  @SIP-REINVITE-ANSWERED @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario Outline: Partial metadata updates by re-INVITE over the call's life (<change>)
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the SRC sends a partial metadata update: <change>
    And the call goes on for 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And every re-INVITE of the recording sessions was answered as RFC 3264 asks
    And the recording keeps the metadata's participant map, each participant's audio in its stream

    Examples:
      | change                                |
      | the customer is put on hold           |
      | the agent transfers the call to "7002" |

  @SRS-FEATURE-TAG @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario Outline: A partial metadata update by UPDATE instead of re-INVITE (RFC 3311, RFC 7866 §9) (<change>)
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the SRC sends a partial metadata update by UPDATE: <change>
    And the call goes on for 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And the recording keeps the metadata's participant map, each participant's audio in its stream

    Examples:
      | change                                 |
      | the agent transfers the call to "7002" |

  @SIP-REINVITE-ANSWERED @SRS-NEW-STREAM-ACCEPTED @SRS-METADATA-KEPT @SRS-PARTICIPANT-AUDIO
  Scenario: A transfer that adds a participant in a new labelled stream (RFC 7866 §7.1.1.1)
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the agent transfers the call to "7002", who joins in a new stream
    And the call goes on for 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And every re-INVITE of the recording sessions was answered as RFC 3264 asks
    And the SRS accepted the new stream and answered it recvonly on its own port
    And the recording keeps the metadata's participant map, each participant's audio in its stream

  @SIP-REINVITE-ANSWERED @SDP-ANSWER-INACTIVE @SDP-ORIGIN-KEPT @REC-PAUSE-NO-AUDIO
  Scenario: Pause and resume by re-INVITE a=inactive / a=sendonly (RFC 7866 §7.1.1.2)
    Given a call from "5551234" to "7001" negotiated with PCMU
    When the call is established and lasts 1 seconds
    And the SRC pauses the recording
    And the call goes on for 1 seconds
    And the SRC resumes the recording
    And the call goes on for 1 seconds
    And the call is released
    Then the SRS accepted the SIPREC recording session with +sip.srs in its Contact
    And every re-INVITE of the recording sessions was answered as RFC 3264 asks
    And no audio sent while the recording was paused is in the recording

  @SRS-REQUIRE-420
  Scenario: A recording INVITE requiring an extension the SRS lacks gets 420 with Unsupported
    When the SRC sends a recording INVITE that also requires an extension the SRS cannot know
    Then the SRS answered 420 Bad Extension naming that extension in Unsupported

  @SRS-NOT-RS
  Scenario: An INVITE requiring siprec without +sip.src is not taken for a recording session
    When the SRC sends a recording INVITE without +sip.src in its Contact
    Then the SRS did not take it for a recording session
