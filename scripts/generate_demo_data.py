"""Generate the synthetic demo data of the cuped dbt package (a small online shop).

Run ``python scripts/generate_demo_data.py`` from anywhere; it writes six CSVs into the
repository's ``seeds/`` directory. The output is deterministic: one fixed numpy seed, no other
source of randomness, and only numpy plus the standard library are used.

Files
-----
demo_users.csv            user_id, signup_date, country, platform, predicted_ltv
demo_sessions.csv         session_id, user_id, session_started_at, pages_viewed
demo_orders.csv           order_id, user_id, ordered_at, revenue, items, status
demo_assignments.csv      experiment_id, user_id, variant, first_exposure_at
demo_experiments.csv      experiment_id, control_variant, analysis_end_at
demo_variant_weights.csv  experiment_id, variant, weight

Timestamps are ``YYYY-MM-DD HH:MM:SS`` (naive, one implied time zone), dates ``YYYY-MM-DD``,
money has two decimals.

Generative model
----------------
(The constants at the top of the module hold every number quoted here.)

* 4,000 users sign up between 2026-08-01 and 2026-10-31 (42% in August, 46% in September,
  8.5% on 2026-10-01..14, 3.5% on 2026-10-15..31). Country (US, GB, DE, FR, BR) and platform
  (web, ios, android) are drawn independently; they shift the typical order value a little
  (e.g. ios +15%, BR -25%).
* Every user has latent, time-constant propensities:
  - activity ``lam``: expected sessions per day, lognormal (median 0.15, sigma 0.5);
  - spend: a per-session order probability ``conv`` (lognormal, median 0.20, sigma 0.8, capped
    at 0.9) and a typical order value ``aov`` (lognormal, median 45, sigma 0.6).
  Activity and spend share a small common factor, so heavy visitors also spend a little more.
* Events (sessions and orders) exist from 2026-09-01 00:00:00 to 2026-10-31 23:59:59. A user is
  active from max(signup date, 2026-09-01). Visits form a renewal process with gamma(1.8) gaps
  of mean 1 / lam (more regular than Poisson: habitual visitors), in a time scale where weekend
  days are 15% busier; a user who signs up on or after 2026-09-01 has a session on the signup
  day (the signup visit). Start times within a day follow a day/evening hour profile.
* 3% of the users who signed up before September are *dormant-then-returning*: no activity in
  the 21 days before a return visit drawn in 2026-10-01..14. Together with the users who sign
  up on 2026-10-01..14 and with naturally infrequent visitors, about 27% of the assigned users
  have no session or order in the 14 days before their first exposure, so a "had pre-period
  activity" indicator matters for CUPED.
* Each session becomes an order with probability ``conv`` (times the treatment multipliers
  below, after exposure; the same uniform draw decides with and without treatment). Order
  value = aov x lognormal(sigma 0.3); 0.1% of orders are multiplied by 8..25, which with the
  lognormal spread of aov gives a heavy right tail: median order ~43, a handful of orders
  above 500, the largest around 1,000. items = 1 + Poisson(value / 40, capped at 8).
  5% of orders are 'refunded' (independent of everything,
  including treatment), the rest 'completed'. ordered_at is 1..45 minutes after the session.
* predicted_ltv is a pre-treatment, CUPAC-style prediction of a user's 30-day spend:
  30 x lam x conv x aov x lognormal(sigma 0.8) noise; correlated with the latent spend
  propensity but noisy, and known for every user including brand-new ones.

Because sessions and orders before and after assignment come from the same latent propensities,
the pre-period (14 days before exposure) predicts the post-period strongly: CUPED on the
pre-period metric reduces the variance of sessions per user and of revenue per user by roughly
30-40% (correlation pre/post about 0.6; more with predicted_ltv as an extra covariate).

Experiments and assignment
--------------------------
A user is eligible when they have a session between 2026-10-01 00:00:00 and 2026-10-14
23:59:59; first_exposure_at is the start of their first such session (the same for all three
experiments). Each experiment independently samples eligible users (a user can be in several
experiments) and draws the variant at random with the configured weights. analysis_end_at is
2026-10-31 23:59:59 for all three; the post period is [first_exposure_at, analysis_end_at].

Planted effects (multiplicative, only on events at or after first_exposure_at; effects of
different experiments on the same user multiply, and since the assignments are independent each
experiment's average effect is its own multiplier):

* ``checkout_redesign`` control/treatment 0.5/0.5, ~3,000 users. treatment multiplies the
  per-session order probability by 1.08: orders per user and revenue per user +8%, sessions
  per user unchanged (0%).
  Data-quality plants: exactly 6 users have two rows with *different* variants (a second row
  with the other variant at a later first_exposure_at; they must be excluded), and 40 users
  have a duplicate row with the *same* variant and a later first_exposure_at (deduplicate to
  the earliest exposure). The effects above use each user's first row.
* ``recommendations`` control/carousel/personalized 0.5/0.25/0.25, ~2,400 users.
  carousel: sessions per user +5% (extra post-exposure sessions at rate 0.05 x lam), per-session
  order probability / 1.05, so revenue per user is unchanged (0%).
  personalized: sessions per user +10%, per-session order probability x 1.05/1.10, so revenue
  per user +5% (and orders per user +5%).
* ``homepage_aa`` control/treatment 0.5/0.5, ~2,000 users: an A/A test, no effect at all.

Sample ratios are plain random draws with the configured weights, so every experiment passes a
sample-ratio-mismatch chi-square test (the generator asserts p > 0.05 after removing the 6
both-variant users and the duplicate rows).
"""

from __future__ import annotations

import csv
import math
from datetime import date, datetime, timedelta
from pathlib import Path

import numpy as np

SEED = 20261001
N_USERS = 4000
SIGNUP_PERIOD_P = [0.42, 0.46, 0.085, 0.035]  # Aug, Sep, Oct 1-14, Oct 15-31
LAM_MEDIAN, LAM_SD = 0.15, 0.5  # sessions per day: lognormal
CONV_MEDIAN, CONV_SD, CONV_MAX = 0.20, 0.8, 0.9  # order probability per session: lognormal
AOV_MEDIAN, AOV_SD = 45.0, 0.6  # typical order value of a user: lognormal
ORDER_SD = 0.30  # order value around the user's typical value: lognormal
WHALE_P, WHALE_LO, WHALE_HI = 0.001, 8.0, 25.0  # rare very large orders
LTV_NOISE_SD = 0.8  # noise of the CUPAC-style prediction: lognormal
GAP_SHAPE = 1.8  # regularity of visits (1 would be a Poisson process)
DORMANT_P = 0.03  # share of pre-September signups that are dormant-then-returning

REPO_ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = REPO_ROOT / "seeds"

# Time is measured in days (float) since ORIGIN.
ORIGIN = datetime(2026, 8, 1)
EVENTS_START = (datetime(2026, 9, 1) - ORIGIN).days  # day 31
N_DAYS = (datetime(2026, 11, 1) - ORIGIN).days  # days 0..91, events end before day 92
EVENTS_END = N_DAYS - 1.0 / 86400.0  # 2026-10-31 23:59:59
EXPOSURE_START = (datetime(2026, 10, 1) - ORIGIN).days
EXPOSURE_END = (datetime(2026, 10, 15) - ORIGIN).days  # exclusive
ANALYSIS_END_AT = "2026-10-31 23:59:59"

COUNTRIES = ["US", "GB", "DE", "FR", "BR"]
COUNTRY_P = [0.40, 0.15, 0.15, 0.12, 0.18]
COUNTRY_SPEND = {"US": 1.10, "GB": 1.05, "DE": 1.0, "FR": 0.95, "BR": 0.75}
PLATFORMS = ["web", "ios", "android"]
PLATFORM_P = [0.45, 0.30, 0.25]
PLATFORM_SPEND = {"web": 1.0, "ios": 1.15, "android": 0.90}

# Relative session intensity per hour of day (sessions in the day and evening).
HOUR_PROFILE = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1,
        2,
        3,
        3.5,
        3.5,
        3.5,
        4,
        4,
        3.5,
        3.5,
        3.5,
        4,
        4.5,
        5,
        5.5,
        5,
        3.5,
        2,
    ],
    dtype=float,
)
HOUR_PROFILE /= HOUR_PROFILE.sum()

EXPERIMENTS = {
    # experiment_id: (control, {variant: weight}, target number of users)
    "checkout_redesign": ("control", {"control": 0.5, "treatment": 0.5}, 3000),
    "recommendations": (
        "control",
        {"control": 0.5, "carousel": 0.25, "personalized": 0.25},
        2400,
    ),
    "homepage_aa": ("control", {"control": 0.5, "treatment": 0.5}, 2000),
}
# Planted multiplicative effects after exposure: (sessions multiplier, order probability
# multiplier per session). Revenue per user multiplier = sessions x order probability.
EFFECTS = {
    ("checkout_redesign", "treatment"): (1.00, 1.08),
    ("recommendations", "carousel"): (1.05, 1.0 / 1.05),
    ("recommendations", "personalized"): (1.10, 1.05 / 1.10),
}
N_CONFLICTING_USERS = 6  # checkout_redesign users with rows in both variants
N_DUPLICATE_ROWS = 40  # checkout_redesign extra rows, same user and variant, later exposure


def fmt_ts(t: float) -> str:
    """Days since ORIGIN -> 'YYYY-MM-DD HH:MM:SS' (floored to the second)."""
    return (ORIGIN + timedelta(seconds=math.floor(t * 86400.0))).strftime("%Y-%m-%d %H:%M:%S")


def fmt_date(day: int) -> str:
    return (date(2026, 8, 1) + timedelta(days=int(day))).isoformat()


def session_times(rng: np.random.Generator, day: int, n: int) -> np.ndarray:
    """n session start times on a given day, following the hour profile."""
    hours = rng.choice(24, size=n, p=HOUR_PROFILE)
    return day + (hours + rng.random(n)) / 24.0


def weekday_factor(day: int) -> float:
    return 1.15 if (date(2026, 8, 1) + timedelta(days=day)).weekday() >= 5 else 1.0


def chi2_sf(x: float, df: int) -> float:
    """Chi-square survival function for df 1 or 2 (closed forms)."""
    if df == 1:
        return math.erfc(math.sqrt(x / 2.0))
    if df == 2:
        return math.exp(-x / 2.0)
    raise ValueError(df)


def write_csv(name: str, header: list[str], rows: list) -> None:
    SEEDS_DIR.mkdir(parents=True, exist_ok=True)
    with open(SEEDS_DIR / name, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def main() -> None:
    rng = np.random.default_rng(SEED)
    day_factor = np.array([weekday_factor(d) for d in range(N_DAYS)])

    # ---- users -------------------------------------------------------------------------
    user_ids = np.arange(1, N_USERS + 1)
    period = rng.choice(4, size=N_USERS, p=SIGNUP_PERIOD_P)
    lo = np.array([0, 31, 61, 75])  # Aug 1, Sep 1, Oct 1, Oct 15
    hi = np.array([31, 61, 75, 92])  # exclusive
    signup_day = lo[period] + np.floor(rng.random(N_USERS) * (hi - lo)[period]).astype(int)
    country = rng.choice(COUNTRIES, size=N_USERS, p=COUNTRY_P)
    platform = rng.choice(PLATFORMS, size=N_USERS, p=PLATFORM_P)

    common = rng.normal(size=N_USERS)
    lam = LAM_MEDIAN * np.exp(LAM_SD * rng.normal(size=N_USERS) + 0.15 * common)
    conv = np.minimum(
        CONV_MAX, CONV_MEDIAN * np.exp(CONV_SD * rng.normal(size=N_USERS) + 0.15 * common)
    )
    shift = np.array(
        [COUNTRY_SPEND[c] * PLATFORM_SPEND[p] for c, p in zip(country, platform, strict=True)]
    )
    aov = AOV_MEDIAN * shift * np.exp(AOV_SD * rng.normal(size=N_USERS) + 0.10 * common)
    predicted_ltv = 30.0 * lam * conv * aov * np.exp(LTV_NOISE_SD * rng.normal(size=N_USERS))

    # Dormant-then-returning users (signed up before September).
    returning = (signup_day < EVENTS_START) & (rng.random(N_USERS) < DORMANT_P)
    return_time = np.where(
        returning,
        EXPOSURE_START + rng.random(N_USERS) * (EXPOSURE_END - EXPOSURE_START),
        np.nan,
    )

    # ---- baseline sessions (no treatment yet) ------------------------------------------
    # A renewal process in "operational time" (weekend days count 1.15): gaps between visits
    # are gamma(GAP_SHAPE) with mean 1 / lam, so visits are more regular than Poisson.
    op_time = np.concatenate([[0.0], np.cumsum(day_factor)])  # at the start of each day
    sessions: list[list] = [[] for _ in range(N_USERS)]  # per user: list of start times
    for i in range(N_USERS):
        new_user = signup_day[i] >= EVENTS_START
        start = op_time[max(int(signup_day[i]), EVENTS_START)]
        n_max = int((op_time[-1] - start) * lam[i] * 2) + 20
        gaps = rng.gamma(GAP_SHAPE, 1.0 / (GAP_SHAPE * lam[i]), size=n_max)
        if new_user:
            gaps[0] = 0.0  # the signup visit, on the signup day
        else:
            gaps[0] *= rng.random()  # already active before the events start
        tau = start + np.cumsum(gaps)
        tau = tau[tau < op_time[-1]]
        days = np.searchsorted(op_time, tau, side="right") - 1
        times = [float(session_times(rng, int(d), 1)[0]) for d in days]
        if returning[i]:
            rt = return_time[i]
            times = [t for t in times if not (rt - 21.0 <= t < rt)]
            times.append(float(rt))
        sessions[i] = sorted(times)

    # ---- exposure and assignment ---------------------------------------------------------
    exposure = np.full(N_USERS, np.nan)
    for i, ts in enumerate(sessions):
        window = [t for t in ts if EXPOSURE_START <= t < EXPOSURE_END]
        if window:
            exposure[i] = window[0]
    eligible = np.flatnonzero(~np.isnan(exposure))
    n_eligible = len(eligible)

    session_mult = np.ones(N_USERS)
    conv_mult = np.ones(N_USERS)
    assignment_rows: list[tuple] = []  # (experiment_id, user_index, variant, exposure time)
    srm_check: dict[str, dict[str, int]] = {}
    for exp_id, (_control, weights, target) in EXPERIMENTS.items():
        variants = list(weights)
        p_take = min(1.0, target / n_eligible)
        taken = eligible[rng.random(n_eligible) < p_take]
        drawn = rng.choice(variants, size=len(taken), p=list(weights.values()))
        for i, v in zip(taken, drawn, strict=True):
            assignment_rows.append((exp_id, int(i), str(v), float(exposure[i])))
            s_m, c_m = EFFECTS.get((exp_id, str(v)), (1.0, 1.0))
            session_mult[i] *= s_m
            conv_mult[i] *= c_m
        srm_check[exp_id] = {v: int(np.sum(drawn == v)) for v in variants}

    # ---- extra post-exposure sessions (session effects) ------------------------------------
    for i in np.flatnonzero(session_mult > 1.0):
        extra_rate = (session_mult[i] - 1.0) * lam[i]
        t0 = exposure[i]
        days = np.arange(int(t0), N_DAYS)
        counts = rng.poisson(extra_rate * day_factor[days])
        extra = []
        for d, c in zip(days, counts, strict=True):
            if c:
                extra.extend(t for t in session_times(rng, int(d), int(c)) if t > t0)
        if extra:
            sessions[i] = sorted(sessions[i] + extra)

    # ---- orders ---------------------------------------------------------------------------
    session_rows = []  # (time, user_id, pages)
    order_rows = []  # (time, user_id, revenue, items, status)
    for i, ts in enumerate(sessions):
        ts_arr = np.asarray(ts, dtype=float)
        n = len(ts_arr)
        if n == 0:
            continue
        # Common random numbers: the same uniform decides the order with or without treatment.
        u = rng.random(n)
        post = ~np.isnan(exposure[i]) & (ts_arr >= exposure[i])
        p = np.where(post, np.minimum(0.95, conv[i] * conv_mult[i]), conv[i])
        ordered = u < p
        pages = 1 + rng.poisson(2.5, size=n) + np.where(ordered, 2 + rng.poisson(2, size=n), 0)
        for t, pg in zip(ts_arr, pages, strict=True):
            session_rows.append((float(t), int(user_ids[i]), int(pg)))
        k = int(ordered.sum())
        if k == 0:
            continue
        value = aov[i] * np.exp(ORDER_SD * rng.normal(size=k) - ORDER_SD**2 / 2)
        whale = rng.random(k) < WHALE_P
        value = np.where(whale, value * rng.uniform(WHALE_LO, WHALE_HI, size=k), value)
        value = np.maximum(value, 1.99)
        items = 1 + rng.poisson(np.clip(value / 40.0, 0.1, 8.0))
        status = np.where(rng.random(k) < 0.05, "refunded", "completed")
        delay = rng.uniform(1, 45, size=k) / 1440.0
        for t, dl, val, it, st in zip(ts_arr[ordered], delay, value, items, status, strict=True):
            ot = min(float(t + dl), EVENTS_END)
            order_rows.append((ot, int(user_ids[i]), round(float(val), 2), int(it), str(st)))

    # ---- checkout_redesign data-quality plants ---------------------------------------------
    checkout = [r for r in assignment_rows if r[0] == "checkout_redesign"]

    def later_session(i: int, after: float) -> float | None:
        later = [t for t in sessions[i] if t > after]
        return later[int(rng.integers(len(later)))] if later else None

    order_idx = rng.permutation(len(checkout))
    conflicting, duplicated = [], []
    for j in order_idx:
        exp_id, i, v, t = checkout[j]
        t2 = later_session(i, t)
        if t2 is None:
            continue
        if len(conflicting) < N_CONFLICTING_USERS:
            other = "treatment" if v == "control" else "control"
            conflicting.append((exp_id, i, other, t2))
        elif len(duplicated) < N_DUPLICATE_ROWS:
            duplicated.append((exp_id, i, v, t2))
        else:
            break
    assert len(conflicting) == N_CONFLICTING_USERS and len(duplicated) == N_DUPLICATE_ROWS
    for r in conflicting:
        srm_check["checkout_redesign"]["treatment" if r[2] == "control" else "control"] -= 1
    assignment_rows.extend(conflicting)
    assignment_rows.extend(duplicated)

    # ---- sample-ratio check (after exclusion / deduplication) ------------------------------
    for exp_id, counts in srm_check.items():
        weights = EXPERIMENTS[exp_id][1]
        total = sum(counts.values())
        stat = sum((counts[v] - total * w) ** 2 / (total * w) for v, w in weights.items())
        pval = chi2_sf(stat, len(weights) - 1)
        assert pval > 0.05, (exp_id, counts, pval)
        print(f"{exp_id}: {counts} SRM p={pval:.3f}")

    # ---- write -------------------------------------------------------------------------------
    write_csv(
        "demo_users.csv",
        ["user_id", "signup_date", "country", "platform", "predicted_ltv"],
        [
            (
                int(user_ids[i]),
                fmt_date(signup_day[i]),
                country[i],
                platform[i],
                f"{predicted_ltv[i]:.2f}",
            )
            for i in range(N_USERS)
        ],
    )
    session_rows.sort()
    write_csv(
        "demo_sessions.csv",
        ["session_id", "user_id", "session_started_at", "pages_viewed"],
        [(k + 1, uid, fmt_ts(t), pg) for k, (t, uid, pg) in enumerate(session_rows)],
    )
    order_rows.sort()
    write_csv(
        "demo_orders.csv",
        ["order_id", "user_id", "ordered_at", "revenue", "items", "status"],
        [
            (k + 1, uid, fmt_ts(t), f"{val:.2f}", it, st)
            for k, (t, uid, val, it, st) in enumerate(order_rows)
        ],
    )
    exp_order = {e: k for k, e in enumerate(EXPERIMENTS)}
    assignment_rows.sort(key=lambda r: (exp_order[r[0]], r[3], r[1]))
    write_csv(
        "demo_assignments.csv",
        ["experiment_id", "user_id", "variant", "first_exposure_at"],
        [(e, int(user_ids[i]), v, fmt_ts(t)) for e, i, v, t in assignment_rows],
    )
    write_csv(
        "demo_experiments.csv",
        ["experiment_id", "control_variant", "analysis_end_at"],
        [(e, spec[0], ANALYSIS_END_AT) for e, spec in EXPERIMENTS.items()],
    )
    write_csv(
        "demo_variant_weights.csv",
        ["experiment_id", "variant", "weight"],
        [(e, v, w) for e, spec in EXPERIMENTS.items() for v, w in spec[1].items()],
    )
    print(
        f"users={N_USERS} sessions={len(session_rows)} orders={len(order_rows)} "
        f"assignments={len(assignment_rows)} eligible={n_eligible}"
    )


if __name__ == "__main__":
    main()
