Feature: 06 - The recorder's answers to the Media Server's unusual requests
  Genesys ARE step 6 seen from the recorder's SIP side: a recording server is a SIP UAS and must
  answer what a Media Server (or a broken peer) may send - a video offer, a codec it cannot
  record, a CANCEL before its answer, a malformed request - and keep serving afterwards.

  Background:
    Given the recorder under test is running

  @SDP-VIDEO-REFUSED-PORT0 @SDP-ANSWER-RECVONLY
  Scenario: An audio and video offer gets video refused with port 0 and audio accepted
    When the Media Server side offers audio and video in one INVITE
    Then the recorder accepted the audio recvonly and refused the video with port 0

  @SIP-NO-CODEC-488 @SIP-NO-CODEC-488-PREFERRED
  Scenario: An offer with no codec the recorder can support is refused with 488
    When the Media Server side offers only a codec no recorder supports
    Then the recorder answered 488 Not Acceptable Here

  @SDP-CODEC-ACCEPT-OR-488
  Scenario: An offer of G.729 only is accepted with G.729 or refused with 488
    When the Media Server side offers only G.729
    Then the recorder accepted G.729 alone or refused it with 488

  @SIP-CANCEL-487
  Scenario: A CANCEL before the final answer ends the INVITE with 487
    When the Media Server side cancels its INVITE right after the recorder's provisional response
    Then the recorder answered the CANCEL 200 and the INVITE 487

  @SIP-MALFORMED-400 @SIP-MALFORMED-ANSWERED-400
  Scenario: A malformed request gets 400 and the recorder keeps serving
    When the Media Server side sends a request whose Content-Length exceeds its body
    And the Media Server side then places a normal recording call
    Then the recorder answered the malformed request 400 and the normal call afterwards

  @SIP-CAPACITY-503
  Scenario: A session beyond the recorder's capacity is refused with 503, not dropped
    When the Media Server side opens one recording session more than the recorder's capacity at once
    Then the session beyond capacity was answered 503 and the others 200
