"""Reading params.yaml: the memo behind read_params never serves stale or shared data."""


def test_read_params_sees_every_edit_and_hands_out_copies(tmp_path):
    """read_params is memoised by the file's bytes: an edit (even one of the same size) is
    read again, and a caller mutating its dict never changes what the next caller gets."""
    from reasonmed.core.params import read_params

    f = tmp_path / "params.yaml"
    f.write_text("run: {seed: 1}\nsft: {config: {save_strategy: no}}\n")
    first = read_params(f)
    assert first["sft"]["config"]["save_strategy"] == "no"  # YAML 1.2, as DVC reads it
    first["run"]["seed"] = 99
    assert read_params(f)["run"]["seed"] == 1
    f.write_text("run: {seed: 2}\nsft: {config: {save_strategy: no}}\n")
    assert read_params(f)["run"]["seed"] == 2
