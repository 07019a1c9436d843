"""softliq's domain: decoding, protocol math, the replay engines and the outcome store."""

from softliq_core.compiled import activate

activate()  # the compiled engine, when built for these sources (softliq_core/compiled.py)
