Feature: 13 - Failure and high availability: a recorder pool behind Resource Manager, Media Server failover
  Genesys GVP Resource Manager (RM) proxies the recording sessions to a pool of recorders,
  typically round-robin, and OPTIONS-pings them so that sessions only go to live instances
  (GVP-Scale); here the sessions of one call stay on one recorder. When a Media Server fails, its
  recording sessions die without BYE, and SIP Server has a new Media Server open new sessions
  with the same parameters: calluuid, record id, dn (GVP-HA).
  Not published, so scenario options here (docs/genesys-flow.md §10): RM pings every 0.3 s and
  takes a recorder out after 0.25 s without an answer, and tries the next recorder on 408, 480,
  486, 5xx or no final answer within 2 s. The pool is the recorder under test started twice; a
  recorder the harness cannot start (a profile, an address) makes the pool not applicable.

  @ARE-HA-POOL-OPTIONS @REC-FILES-PRESENT @REC-STREAM-CHANNEL @REC-AUDIO-COMPLETE
  Scenario: A pool behind the Resource Manager answers its pings and records the calls routed to it
    Given a pool of 2 recorders behind the Resource Manager
    When the Resource Manager has pinged the pool for 1 seconds
    And 2 calls are recorded through the Resource Manager for 1 seconds
    Then every pool member stayed in rotation
    And each call is recorded completely by the pool member it was routed to

  # The new Media Server's streams carry on the call's time code where the wall clock is, so the
  # outage is a run of segments no Media Server sent. Stitched (one file per stream, the gap as
  # silence) or versioned (a further file per stream) are both accepted.
  # The gap is as long as the outage on the wire (within 0.1 s: each part placed on its arrival)
  # and marked in the metadata (reference layout: recording.json `gaps`, with start, end, reason).
  @ARE-HA-FAILOVER-ACCEPTED @ARE-HA-FAILOVER-RECORDING @ARE-HA-FAILOVER-GAP @ARE-HA-DEAD-DIALOG-ENDED
  Scenario: After a Media Server failover the new sessions are accepted and the dead ones ended
    When the Media Server fails after 1 seconds of the call and a new one takes over 0.5 seconds later, for 1 seconds
    Then the recorder accepted the new Media Server's sessions
    And the call's recording holds each stream's audio from both Media Servers, with the outage as a gap
    And the outage is a gap in each stream's recording as long as the failover, and marked
    And the recorder ended the dead sessions within 6 seconds of the failure

  # A recorder crash (GVP-HA): the Genesys recorder side asks SIP Server to record again and RM
  # picks another recorder. Here the call goes to the second instance first (round-robin), that
  # one is killed (SIGKILL), and Media Server opens the sessions again with the same parameters.
  # Audio sent in the last 2 s before the kill may be lost (not yet on disk); the rest must be in
  # readable files, and the part after the restart must be complete on the other member.
  @ARE-HA-CRASH-RECORDING-READABLE @REC-FILES-PRESENT @REC-STREAM-CHANNEL @REC-AUDIO-COMPLETE
  Scenario: A recorder killed mid-call leaves a readable recording and the call goes on on another
    Given a pool of 2 recorders behind the Resource Manager
    When the pool member recording the call is killed after 3 seconds and the recording starts again 1 seconds later, for 1 seconds
    Then the recording the killed recorder wrote holds the call up to 2 seconds before the kill
    And each call is recorded completely by the pool member it was routed to

  # GQM815 "without duplication": streams go to recorder A, and if A is unreachable to the next
  # available recorder B. Here A is a port that never answers: RM's ping or its INVITE timeout
  # takes A out and B records the call.
  @REC-FILES-PRESENT @REC-STREAM-CHANNEL @REC-AUDIO-COMPLETE
  Scenario: Hot standby: the call is recorded by the next recorder when the first does not answer
    Given a pool of a recorder that does not answer and the recorder under test, behind the Resource Manager
    When 1 calls are recorded through the Resource Manager for 1 seconds
    Then each call is recorded completely by the pool member it was routed to

  # GQM815 "MSR with stream duplication": the same call to two recorders at once (Dest and Dest2
  # of TRequestPrivateService; the meaning of dest2 is not published, docs/genesys-flow.md §10).
  # Emulation choice: a GSIP_RECORD_START with dest and dest2 naming the two recorders makes the
  # SIP Server emulation hand Media Server the same job (calluuid, record id, dn) for each.
  # The two recordings are independent: each must hold the whole call.
  @REC-FILES-PRESENT @REC-STREAM-CHANNEL @REC-AUDIO-COMPLETE
  Scenario: Stream duplication: the same call is recorded completely by two recorders
    Given 2 instances of the recorder under test
    When Media Server records the call to both recorders, Dest and Dest2, for 1 seconds
    Then each recorder holds the whole call
