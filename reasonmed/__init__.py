"""The ReasonMed library: everything the stages share (a stage imports this, never another
stage)."""
