"""The chaos half of the suite: experiments in the shape of a Chaos Toolkit experiment
(steady-state hypothesis, method, rollbacks, journal) with a Jepsen-style history check.

    runner.Experiment      one experiment: hypothesis, method, verification after the rollbacks
    runner.execute()       runs one, with rollbacks on every exit path (signals included)
    faults.ChaosProxies    Toxiproxy faults as context managers over the suite's adapter
    probes / history       what was seen while the fault ran, and the invariants over it
    journal / timeline     the JSON journal and the PNG timeline of one run
    gameday / cli          several experiments in order with live progress (`gameday` command)
"""
