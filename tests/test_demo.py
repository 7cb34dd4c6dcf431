from PIL import Image

from ued.demo import main


def test_demo_writes_images_and_reports_returns(tmp_path, capsys):
    main(["--out", str(tmp_path), "--num-envs", "16", "--num-steps", "300", "--seed", "1"])
    out = capsys.readouterr().out
    assert "random policy on 16 random mazes x 300 steps" in out
    finished = int(out.split("episodes finished: ")[1].split(",")[0])
    assert finished >= 16  # every maze times out at 250 steps or is solved before
    with Image.open(tmp_path / "named_level.png") as im:
        assert im.size == (15 * 16, 15 * 16)
    with Image.open(tmp_path / "random_levels.png") as im:
        assert im.size[0] > 4 * 15 * 16
    with Image.open(tmp_path / "episode.gif") as im:
        assert im.n_frames > 1
