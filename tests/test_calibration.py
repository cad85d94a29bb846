"""Joint-score calibration to BlazePose's visibility scale (unpose_core.pose.calibration)."""
import numpy as np
import pytest

from unpose_core.pose.calibration import KNOTS, ScoreCalibration, fit_calibration
from unpose_core.pose.mmpose_hrnet import coco17_result


def test_fit_recovers_a_known_monotone_map_and_reads_between_knots():
    rng = np.random.default_rng(0)
    s = rng.uniform(0, 1, 20_000)
    truth = np.sqrt(s)                             # the visibility a score stands for
    v = np.clip(truth + rng.normal(0, 0.05, len(s)), 0, 1)
    cal = fit_calibration(s, v, source="synthetic")
    assert cal.knots == KNOTS and len(cal.values) == 21
    assert np.all(np.diff(cal.values) >= 0)
    grid = np.linspace(0.05, 0.95, 37)
    assert np.abs(cal(grid) - np.sqrt(grid)).max() < 0.05
    assert cal(np.array([-1.0, 2.0, np.nan])).tolist() == [cal.values[0], cal.values[-1], cal.values[0]]


def test_the_version_names_the_map():
    a = ScoreCalibration(tuple(np.linspace(0, 1, 21).round(3)))
    b = ScoreCalibration(tuple((np.linspace(0, 1, 21) ** 2).round(3)))
    assert a.version != b.version and a.version == ScoreCalibration(a.values, source="elsewhere").version


@pytest.mark.parametrize("values, message", [
    ((0.1, 0.2), "one value per knot"),
    (tuple(np.linspace(1, 0, 21)), "never decrease"),
    (tuple(np.linspace(0, 1.5, 21)), "within"),
])
def test_a_bad_map_is_refused(values, message):
    with pytest.raises(ValueError, match=message):
        ScoreCalibration(values)


def test_too_few_joints_to_fit_are_refused():
    with pytest.raises(ValueError, match="at least 50 joints"):
        fit_calibration(np.ones(10), np.ones(10))
    with pytest.raises(ValueError, match="10 scores but 9"):
        fit_calibration(np.ones(10), np.ones(9))


def test_the_no_person_rule_reads_raw_scores_and_the_landmarks_the_mapped_ones():
    kp = np.tile([[320.0, 240.0]], (17, 1))
    sc = np.array([0.35] * 4 + [0.1] * 13)           # four joints at the raw threshold: a person
    double = ScoreCalibration(tuple(np.minimum(1, 2 * np.asarray(KNOTS)).round(3)))
    r = coco17_result(kp, sc, (640, 480), "x", calibration=double)
    assert r.status == "person"
    np.testing.assert_allclose(r.landmarks[:, 3], np.minimum(1, 2 * sc), atol=1e-6)
    assert r.signals["joint_scores"] == [0.35] * 4 + [0.1] * 13 and r.score == pytest.approx(sc.mean())
    plain = coco17_result(kp, sc, (640, 480), "x")
    np.testing.assert_allclose(plain.landmarks[:, 3], sc, atol=1e-6)
    assert "joint_scores" not in plain.signals
    # a calibration that lifts every score does not make a person of three joints
    three = np.array([0.35] * 3 + [0.1] * 14)
    assert coco17_result(kp, three, (640, 480), "x", calibration=double).status == "no_person"


def test_a_map_round_trips_through_the_data_dir(tmp_path):
    from unpose_core.pose.calibration import calibration_path, load_calibration, save_calibration

    assert load_calibration(None, "movenet-thunder") is None
    assert load_calibration(tmp_path, "movenet-thunder") is None
    cal = ScoreCalibration(tuple(np.sqrt(KNOTS).round(3)), source="test")
    path = save_calibration(tmp_path, "movenet-thunder", cal, by="ana")
    assert path == calibration_path(tmp_path, "movenet-thunder") and not list(tmp_path.rglob("*.tmp"))
    back = load_calibration(tmp_path, "movenet-thunder")
    assert back == cal and back.version == cal.version
    path.write_text('{"values": [1, 0]}')
    with pytest.raises(ValueError, match="movenet-thunder.json.*calibrate"):
        load_calibration(tmp_path, "movenet-thunder")
