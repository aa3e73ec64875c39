"""Conformance scenarios: the layer that plays a whole Genesys flow against a recorder.

It sits above emulators, capture, validators and recorder adapters (which never import each
other sideways) and is what the Gherkin step bindings drive. One module per concern:

* `run` - `ScenarioRun`: set-up, the call, T-Lib clients, run-time control (what the steps drive);
* `evidence` - the capture read once, scoped, cross-checked and validated (`Evidence`);
* `scope` - the scenario's own dialogs and negotiated RTP; other traffic is counted, not judged;
* `capture_loss` - tcpdump's drops and SIPp's message logs: a lost capture packet is not the
  recorder's fault;
* `recordings` - where the recorder's files are and what they must hold;
* `sent_rtp` - what the Media Server emulation really sent (the sender side of delivery);
* `tlib_clients` - the scenario's own T-Lib clients;
* `verdict` - findings to Then-step verdicts and report attachments.
"""
