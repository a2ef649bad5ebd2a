//! `oddsmatch race-model`: an example telemetry model that prices a simulated race.
//!
//! It simulates a race deterministically from a seed and turns the runners' positions into win
//! probabilities, which it prints as `reference_odds` lines of the sim format
//! (`docs/sim-format.md`), one every `--interval-ms` over `--duration-ms` from `--start-ts`:
//!
//! ```text
//! {"ts":1767277200000000000,"cmd":"reference_odds","account":100,"market":1,"probabilities_bps":[2712,1544,...]}
//! ```
//!
//! With `--with-setup` it also prints what a sim file needs around them: the feed account (role
//! `feed`), a few bettors, a pool market over the runners whose `end_at` is the finish (so it
//! locks 3 s before), the bettors' bets before the lock (each on a runner drawn with the odds
//! of the moment), and at the finish a `settle_market` naming the race's winner. The output runs
//! as it is: `oddsmatch race-model --with-setup > race.jsonl && oddsmatch sim --input race.jsonl`.
//!
//! **The race.** Every runner has a hidden ability (its cruising speed, 15.6 to 16.4 m/s), a
//! hidden finishing kick (-0.6 to +0.6 m/s over the last quarter) and a public form rating (its
//! ability seen with up to 0.2 m/s of error). Every 10 ms its speed is its ability plus a
//! random drift that reverts over about two seconds (typically 0.6 m/s either way) plus, late
//! on, its kick, and its position advances by that speed. The runner furthest ahead at the end
//! wins. The race depends on the seed, the number of runners and the duration only, not on how
//! often it is priced.
//!
//! **The prices.** At each publication the model sees positions, elapsed time and form only. It
//! estimates each runner's speed (form, outweighed by the observed average speed as the race
//! goes on), projects its final position, and weighs each runner by `2^(-2.5 * gap / sigma)`,
//! where `gap` is its projected distance behind the projected leader and `sigma` the
//! uncertainty left (the speed estimate's error and the drift over the time remaining, plus
//! 5 cm). Weights become probabilities in basis points: at least 10 each (odds of at most
//! 1000), summing to exactly 10,000, in runner order (selection 1 first). Everything is integer
//! arithmetic.
//!
//! **Smoothing.** A market's circuit breaker suspends it when the reference odds move more than
//! `circuit_breaker_bps` within a window (by default 3000 bps within 1 s). The model therefore
//! moves each runner's fair odds by at most `--max-move-bps` per second (default 2000, so at
//! most about 22% within any second): each publication moves from the previous probabilities
//! toward the model's as far as that allows, keeping the sum at 10,000. `--max-move-bps 0`
//! publishes the model's probabilities unsmoothed.

use std::io::{self, BufWriter, Write};

use oddsmatch_benches::rng::Rng;
use oddsmatch_engine::AccountId;

/// Simulation step of the race, in milliseconds.
pub const SIM_STEP_MS: u64 = 10;
/// The smallest probability published for a runner, in basis points (odds 1000.00).
pub const MIN_PROBABILITY_BPS: u32 = 10;
/// Most runners: the engine's most selections per market.
pub const MAX_RUNNERS: u32 = oddsmatch_engine::MAX_SELECTIONS as u32;
/// Bettors in the setup (accounts `feed + 1` to `feed + BETTORS`).
pub const BETTORS: u32 = 4;
/// Bets each bettor places before the lock.
pub const BETS_PER_BETTOR: u32 = 3;
/// How long before the finish the market locks, in milliseconds (the engine's default).
pub const LOCK_BEFORE_END_MS: u64 = 3_000;
/// Pool takeout of the setup's market, in basis points.
pub const TAKEOUT_BPS: u16 = 1_500;
/// Each bettor's deposit, in minor units.
pub const BETTOR_DEPOSIT_MINOR: i64 = 100_000;
/// Smallest and largest bet, in minor units.
pub const BET_MINOR: (u64, u64) = (500, 5_000);
/// `circuit_breaker_min_pool` of the setup's market, in minor units: above anything the few
/// bettors can stake, so that the breaker watches the feed and not the small pool's swings.
pub const BREAKER_MIN_POOL_MINOR: i64 = 10_000_000;

/// Error of the estimated speed, in mm/s (micrometres per millisecond).
const SIGMA_SPEED_MM_S: i128 = 200;
/// Size of the random drift of a runner's speed, in mm/s.
const SIGMA_DRIFT_MM_S: i128 = 600;
/// How long the drift lasts, in milliseconds (it reverts by 1/200 every 10 ms step).
const DRIFT_MEMORY_MS: i128 = 2_000;
/// Uncertainty of the finish itself, in micrometres (5 cm).
const SIGMA_FLOOR_UM: i128 = 50_000;
/// How sharply a gap lowers a runner's weight, in powers of two per sigma, times 2^16.
const LAMBDA_Q16: i128 = 5 << 15;

/// Arguments of `oddsmatch race-model`.
#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "\
Prints sim-format lines: one reference_odds every --interval-ms from --start-ts to the end \
of the race (--duration-ms later). With --with-setup, also the feed account, four bettors \
(accounts feed+1 to feed+4), a pool market over the runners whose end_at is the finish (it \
locks 3 s before), the bettors' bets before the lock and a settle_market naming the winner at \
the finish, so that the output runs as it is:

  oddsmatch race-model --with-setup --seed 7 > race.jsonl
  oddsmatch sim --input race.jsonl

The model: runners with a hidden ability, a hidden finishing kick and a random drift advance \
every 10 ms; the winner is whoever is ahead at the end. At each publication the model sees only \
positions, elapsed time and each runner's public form, projects the finish, and turns the \
projected gaps into probabilities in basis points (at least 10 each, exactly 10000 in all, \
selection 1 first), integer arithmetic throughout. Each publication moves every runner's fair \
odds by at most --max-move-bps per second, so the feed does not trip the market's circuit \
breaker. The same arguments always print the same lines.")]
pub struct RaceModelArgs {
    /// The market the odds are for.
    #[arg(long, default_value_t = 1)]
    pub market: u32,
    /// Number of runners: selections 1 to N, in that order in probabilities_bps.
    #[arg(long, default_value_t = 8,
          value_parser = clap::value_parser!(u32).range(2..=i64::from(MAX_RUNNERS)))]
    pub runners: u32,
    /// The feed account that sends the odds (role feed).
    #[arg(long, default_value_t = 100)]
    pub feed_account: u32,
    /// When the race starts (and the first odds are sent), in nanoseconds since the epoch.
    #[arg(long, default_value_t = 1_767_277_200_000_000_000)]
    pub start_ts: u64,
    /// Seed of the race.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Time between two reference_odds lines, in milliseconds.
    #[arg(long, default_value_t = 250,
          value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub interval_ms: u64,
    /// Length of the race, in milliseconds.
    #[arg(long, default_value_t = 60_000,
          value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub duration_ms: u64,
    /// Most any runner's fair odds may move per second, in basis points of the earlier odds
    /// (0: no smoothing). The default keeps the feed inside the default circuit breaker
    /// (3000 bps within 1 s).
    #[arg(long, default_value_t = 2_000,
          value_parser = clap::value_parser!(u32).range(0..=100_000))]
    pub max_move_bps: u32,
    /// Also print the setup: feed account, bettors, pool market, bets and the settlement.
    #[arg(long)]
    pub with_setup: bool,
    /// Also print each runner's position as a comment line before each reference_odds.
    #[arg(long)]
    pub positions: bool,
}

/// Prints the model's lines to standard output.
pub fn run(args: &RaceModelArgs) -> Result<(), String> {
    let lines = lines(args)?;
    let mut out = BufWriter::new(io::stdout().lock());
    let written = lines
        .iter()
        .try_for_each(|line| writeln!(out, "{line}"))
        .and_then(|()| out.flush());
    match written {
        // A reader that goes away early (`| head`) ends the output quietly.
        Err(error) if error.kind() != io::ErrorKind::BrokenPipe => {
            Err(format!("race-model: cannot write: {error}"))
        }
        _ => Ok(()),
    }
}

/// Every line `args` asks for, in order.
pub fn lines(args: &RaceModelArgs) -> Result<Vec<String>, String> {
    let duration_ns = args.duration_ms * 1_000_000;
    let end_ts = args
        .start_ts
        .checked_add(duration_ns)
        .ok_or("race-model: --start-ts plus --duration-ms is beyond the last timestamp")?;
    if args.with_setup {
        if args.duration_ms <= LOCK_BEFORE_END_MS {
            return Err(format!(
                "race-model: with --with-setup the market locks {LOCK_BEFORE_END_MS} ms before \
                 the finish, so the race must last longer (--duration-ms > {LOCK_BEFORE_END_MS})"
            ));
        }
        if args
            .feed_account
            .checked_add(BETTORS)
            .is_none_or(|last| AccountId(last).is_reserved())
        {
            return Err(format!(
                "race-model: --feed-account {} leaves no room for the {BETTORS} bettors after it",
                args.feed_account
            ));
        }
    }
    let mut race = Race::new(args.seed, args.runners, args.duration_ms);
    let mut feed = Feed::new(args.runners, args.max_move_bps, args.interval_ms);
    let mut out = Vec::new();
    let lock_ts = end_ts - LOCK_BEFORE_END_MS * 1_000_000;
    let mut bets = Bets::new(args, lock_ts);
    if args.with_setup {
        setup_lines(args, end_ts, &mut out);
    }
    for step in 0..=args.duration_ms / args.interval_ms {
        let elapsed_ms = step * args.interval_ms;
        let ts = args.start_ts + elapsed_ms * 1_000_000;
        race.advance_to(elapsed_ms);
        if args.positions {
            out.push(race.positions_comment());
        }
        let probabilities = feed.publish(&race.probabilities());
        out.push(format!(
            "{{\"ts\":{ts},\"cmd\":\"reference_odds\",\"account\":{},\"market\":{},\
             \"probabilities_bps\":[{}]}}",
            args.feed_account,
            args.market,
            join(probabilities)
        ));
        if args.with_setup {
            bets.place_due(ts, probabilities, &mut out);
        }
    }
    if args.with_setup {
        race.advance_to(args.duration_ms);
        let winner = race.winner() + 1;
        out.push(format!(
            "# The finish: runner {winner} is ahead{}.",
            if args.positions {
                format!(" ({})", race.positions_summary())
            } else {
                String::new()
            }
        ));
        out.push(format!(
            "{{\"ts\":{end_ts},\"cmd\":\"settle_market\",\"market\":{},\"winners\":[{winner}]}}",
            args.market
        ));
    }
    Ok(out)
}

/// The feed account, the bettors and the market.
fn setup_lines(args: &RaceModelArgs, end_ts: u64, out: &mut Vec<String>) {
    let ts = args.start_ts;
    let (feed, market) = (args.feed_account, args.market);
    out.push(format!(
        "# oddsmatch race-model: seed {}, {} runners, a {} ms race priced every {} ms; market \
         {market}, feed account {feed}.",
        args.seed, args.runners, args.duration_ms, args.interval_ms
    ));
    out.push(
        "# The pool's breaker minimum is above anything the bettors stake: the breaker watches \
         the feed."
            .to_string(),
    );
    out.push(format!(
        "{{\"ts\":{ts},\"cmd\":\"create_account\",\"account\":{feed},\"role\":\"feed\"}}"
    ));
    for bettor in feed + 1..=feed + BETTORS {
        out.push(format!(
            "{{\"ts\":{ts},\"cmd\":\"create_account\",\"account\":{bettor}}}"
        ));
        out.push(format!(
            "{{\"ts\":{ts},\"cmd\":\"deposit\",\"account\":{bettor},\"amount\":\
             {BETTOR_DEPOSIT_MINOR},\"transfer_id\":{bettor}}}"
        ));
    }
    out.push(format!(
        "{{\"ts\":{ts},\"cmd\":\"create_market\",\"market\":{market},\"kind\":\"pool\",\
         \"selections\":[{}],\"takeout_bps\":{TAKEOUT_BPS},\"end_at\":{end_ts},\
         \"lock_before_end_ms\":{LOCK_BEFORE_END_MS},\"circuit_breaker_min_pool\":\
         {BREAKER_MIN_POOL_MINOR}}}",
        join((1..=args.runners).collect::<Vec<_>>().as_slice())
    ));
    out.push(format!(
        "{{\"ts\":{ts},\"cmd\":\"open_market\",\"market\":{market}}}"
    ));
}

fn join<T: std::fmt::Display>(values: &[T]) -> String {
    values
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// One runner.
#[derive(Clone, Debug)]
struct Runner {
    /// Cruising speed, mm/s (hidden).
    ability: i64,
    /// Speed change over the last quarter, mm/s (hidden).
    kick: i64,
    /// The public estimate of `ability`, mm/s.
    form: i64,
    /// Mean-reverting random part of the speed, mm/s.
    drift: i64,
    /// Distance covered, micrometres.
    position_um: i64,
}

/// The race: runners advanced in steps of [`SIM_STEP_MS`].
struct Race {
    rng: Rng,
    runners: Vec<Runner>,
    duration_ms: u64,
    elapsed_ms: u64,
}

impl Race {
    fn new(seed: u64, runners: u32, duration_ms: u64) -> Race {
        let mut rng = Rng::new(seed);
        let runners = (0..runners)
            .map(|_| {
                let ability = 15_600 + rng.below(801) as i64;
                Runner {
                    ability,
                    kick: rng.below(1_201) as i64 - 600,
                    form: ability + rng.below(401) as i64 - 200,
                    drift: 0,
                    position_um: 0,
                }
            })
            .collect();
        Race {
            rng,
            runners,
            duration_ms,
            elapsed_ms: 0,
        }
    }

    /// Runs the whole steps up to `ms` (at most the duration).
    fn advance_to(&mut self, ms: u64) {
        let until = ms.min(self.duration_ms);
        while self.elapsed_ms + SIM_STEP_MS <= until {
            let kicking = self.elapsed_ms * 4 >= self.duration_ms * 3;
            for runner in &mut self.runners {
                runner.drift += self.rng.below(209) as i64 - 104 - runner.drift / 200;
                let kick = if kicking { runner.kick } else { 0 };
                let speed = (runner.ability + runner.drift + kick).max(1_000);
                // mm/s over 10 ms is speed * 10 micrometres.
                runner.position_um += speed * SIM_STEP_MS as i64;
            }
            self.elapsed_ms += SIM_STEP_MS;
        }
    }

    /// The runner furthest ahead (the first of equals).
    fn winner(&self) -> usize {
        let best = self.runners.iter().map(|r| r.position_um).max();
        self.runners
            .iter()
            .position(|r| Some(r.position_um) == best)
            .expect("a race has runners")
    }

    /// The model's probabilities now, in basis points: see the module documentation.
    fn probabilities(&self) -> Vec<u32> {
        let elapsed = i128::from(self.elapsed_ms);
        let remaining = i128::from(self.duration_ms) - elapsed;
        let prior_ms = (i128::from(self.duration_ms) / 4).max(1);
        let projected: Vec<i128> = self
            .runners
            .iter()
            .map(|r| {
                // (form * prior + observed speed * elapsed) / (prior + elapsed); observed speed
                // times elapsed is the position (mm/s * ms = micrometres).
                let speed = (i128::from(r.form) * prior_ms + i128::from(r.position_um))
                    / (prior_ms + elapsed);
                i128::from(r.position_um) + speed * remaining
            })
            .collect();
        let best = *projected.iter().max().expect("a race has runners");
        let sigma = SIGMA_SPEED_MM_S * remaining
            + SIGMA_DRIFT_MM_S * (2 * DRIFT_MEMORY_MS * remaining).isqrt()
            + SIGMA_FLOOR_UM;
        let weights: Vec<u64> = projected
            .iter()
            .map(|p| {
                let x = (best - p) * LAMBDA_Q16 / sigma;
                exp2_neg_q16(u64::try_from(x).unwrap_or(u64::MAX))
            })
            .collect();
        to_bps(&weights)
    }

    /// `# t=12.250s m: 1:190.41 2:188.02 ...` (metres covered per runner).
    fn positions_comment(&self) -> String {
        format!(
            "# t={}.{:03}s m: {}",
            self.elapsed_ms / 1_000,
            self.elapsed_ms % 1_000,
            self.positions_summary()
        )
    }

    fn positions_summary(&self) -> String {
        self.runners
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let cm = r.position_um / 10_000;
                format!("{}:{}.{:02}", i + 1, cm / 100, cm % 100)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// `2^(-k/16) * 2^32` for `k` in `0..=16`.
const EXP2_NEG_SIXTEENTHS: [u64; 17] = [
    4_294_967_296,
    4_112_874_773,
    3_938_502_376,
    3_771_522_796,
    3_611_622_603,
    3_458_501_653,
    3_311_872_529,
    3_171_459_999,
    3_037_000_500,
    2_908_241_642,
    2_784_941_738,
    2_666_869_345,
    2_553_802_834,
    2_445_529_972,
    2_341_847_524,
    2_242_560_872,
    2_147_483_648,
];

/// `2^(-x / 2^16) * 2^32`, from the table of sixteenths with linear interpolation.
fn exp2_neg_q16(x: u64) -> u64 {
    let whole = x >> 16;
    if whole >= 40 {
        return 0;
    }
    let fraction = x & 0xffff;
    let k = (fraction >> 12) as usize;
    let within = fraction & 0xfff;
    let (a, b) = (EXP2_NEG_SIXTEENTHS[k], EXP2_NEG_SIXTEENTHS[k + 1]);
    let value = a - (a - b) * within / 4_096;
    value >> whole
}

/// Weights to probabilities in basis points: each at least [`MIN_PROBABILITY_BPS`], the rest
/// shared in proportion to the weights, the last basis points to the largest remainders
/// (earlier runners first among equals), summing to exactly 10,000.
fn to_bps(weights: &[u64]) -> Vec<u32> {
    let floor = MIN_PROBABILITY_BPS * weights.len() as u32;
    let share = u128::from(10_000 - floor);
    let total: u128 = weights.iter().map(|w| u128::from(*w)).sum::<u128>().max(1);
    let mut bps: Vec<u32> = Vec::with_capacity(weights.len());
    let mut remainders: Vec<(u128, usize)> = Vec::with_capacity(weights.len());
    for (i, w) in weights.iter().enumerate() {
        let scaled = share * u128::from(*w);
        bps.push(MIN_PROBABILITY_BPS + (scaled / total) as u32);
        remainders.push((scaled % total, i));
    }
    let left = 10_000 - bps.iter().sum::<u32>();
    remainders.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for &(_, i) in remainders.iter().take(left as usize) {
        bps[i] += 1;
    }
    bps
}

/// The published probabilities and the smoothing between them.
struct Feed {
    published: Vec<u32>,
    /// Largest move per publication, in basis points (0: none).
    step_bps: u32,
}

impl Feed {
    fn new(runners: u32, max_move_bps: u32, interval_ms: u64) -> Feed {
        // A one-second window holds this many moves; their compounded total stays below
        // e^(max_move) - 1 (22% for 2000 bps).
        let per_second = 1_000u64.div_ceil(interval_ms).max(1);
        Feed {
            published: Vec::with_capacity(runners as usize),
            step_bps: (u64::from(max_move_bps) / per_second) as u32,
        }
    }

    /// Moves from the previous publication toward `target` (see [`smooth`]) and returns what
    /// to publish.
    fn publish(&mut self, target: &[u32]) -> &[u32] {
        self.published = if self.published.is_empty() || self.step_bps == 0 {
            target.to_vec()
        } else {
            smooth(&self.published, target, self.step_bps)
        };
        &self.published
    }
}

/// The probabilities nearest `target` (by a common shift, clamped per runner) such that no
/// runner's fair odds moves by more than `step_bps` of its previous odds, at least
/// [`MIN_PROBABILITY_BPS`] each and summing to 10,000 (as `previous` does).
fn smooth(previous: &[u32], target: &[u32], step_bps: u32) -> Vec<u32> {
    let step = u64::from(step_bps);
    let bounds: Vec<(i64, i64)> = previous
        .iter()
        .map(|&p| {
            let p64 = u64::from(p);
            // Odds rise by at most `step` when the probability falls to p / (1 + step) ...
            let low = (p64 * 10_000).div_ceil(10_000 + step) as i64;
            // ... and fall by less than `step` when it rises to p * (1 + step).
            let high = (p64 * (10_000 + step) / 10_000).min(10_000) as i64;
            (
                low.max(i64::from(MIN_PROBABILITY_BPS)).min(i64::from(p)),
                high.max(i64::from(p)),
            )
        })
        .collect();
    let at = |shift: i64| -> Vec<i64> {
        target
            .iter()
            .zip(&bounds)
            .map(|(&q, &(low, high))| (i64::from(q) + shift).clamp(low, high))
            .collect()
    };
    let sum = |shift: i64| at(shift).iter().sum::<i64>();
    // The smallest shift whose clamped sum reaches 10,000: the sum grows with the shift, from
    // at most 10,000 (every runner at its low bound) to at least 10,000 (at its high bound).
    let (mut low, mut high) = (-10_000i64, 10_000i64);
    while low < high {
        let middle = low + (high - low).div_euclid(2);
        if sum(middle) >= 10_000 {
            high = middle;
        } else {
            low = middle + 1;
        }
    }
    let mut result = at(low);
    // Between shift - 1 and shift every unclamped runner gained one, so the excess is smaller
    // than their number: take one back from each of the first ones.
    let mut excess = result.iter().sum::<i64>() - 10_000;
    for (value, &(floor, _)) in result.iter_mut().zip(&bounds) {
        if excess == 0 {
            break;
        }
        if *value > floor {
            *value -= 1;
            excess -= 1;
        }
    }
    debug_assert_eq!(excess, 0);
    result.into_iter().map(|v| v as u32).collect()
}

/// The bettors' bets: each bettor bets [`BETS_PER_BETTOR`] times at publications before the
/// lock, on a runner drawn with the published probabilities.
struct Bets {
    rng: Rng,
    /// (publication time, bettor), in time order.
    due: Vec<(u64, u32)>,
    next: usize,
    /// The last client order id of each bettor.
    client_order_ids: Vec<u64>,
    feed_account: u32,
    market: u32,
}

impl Bets {
    fn new(args: &RaceModelArgs, lock_ts: u64) -> Bets {
        // A stream of its own, so that the bets never change the race.
        let mut rng = Rng::new(args.seed ^ 0x6265_7473);
        let interval_ns = args.interval_ms * 1_000_000;
        // Publications strictly before the lock.
        let before_lock = (lock_ts - args.start_ts).div_ceil(interval_ns).max(1);
        let mut due: Vec<(u64, u32)> = (1..=BETTORS)
            .flat_map(|bettor| (0..BETS_PER_BETTOR).map(move |_| bettor))
            .map(|bettor| {
                let step = rng.below(before_lock);
                (
                    args.start_ts + step * interval_ns,
                    args.feed_account + bettor,
                )
            })
            .collect();
        due.sort_unstable();
        Bets {
            rng,
            due,
            next: 0,
            client_order_ids: vec![0; BETTORS as usize],
            feed_account: args.feed_account,
            market: args.market,
        }
    }

    /// The bets due at `ts`, after the odds published then.
    fn place_due(&mut self, ts: u64, probabilities: &[u32], out: &mut Vec<String>) {
        while let Some(&(at, account)) = self.due.get(self.next)
            && at <= ts
        {
            self.next += 1;
            let mut draw = self.rng.below(10_000) as u32;
            let mut selection = probabilities.len();
            for (i, p) in probabilities.iter().enumerate() {
                if draw < *p {
                    selection = i + 1;
                    break;
                }
                draw -= p;
            }
            let stake = self.rng.between(BET_MINOR.0, BET_MINOR.1);
            let ids = &mut self.client_order_ids[(account - self.feed_account - 1) as usize];
            *ids += 1;
            out.push(format!(
                "{{\"ts\":{ts},\"cmd\":\"place_bet\",\"account\":{account},\"market\":{},\
                 \"selection\":{selection},\"stake\":{stake},\"client_order_id\":{ids}}}",
                self.market
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp2_follows_powers_of_two() {
        assert_eq!(exp2_neg_q16(0), 1 << 32);
        assert_eq!(exp2_neg_q16(1 << 16), 1 << 31);
        assert_eq!(exp2_neg_q16(3 << 16), 1 << 29);
        assert_eq!(exp2_neg_q16(1 << 15), 3_037_000_500);
        assert_eq!(exp2_neg_q16(40 << 16), 0);
    }

    #[test]
    fn weights_become_basis_points_summing_to_ten_thousand() {
        assert_eq!(to_bps(&[1, 1, 1]), [3_334, 3_333, 3_333]);
        assert_eq!(to_bps(&[1 << 32, 0]), [9_990, 10]);
        let bps = to_bps(&[3, 1, 0, 0]);
        assert_eq!(bps.iter().sum::<u32>(), 10_000);
        assert_eq!(bps, [7_480, 2_500, 10, 10]);
    }

    #[test]
    fn smoothing_bounds_every_move_and_keeps_the_sum() {
        let previous = [5_000, 3_000, 1_500, 500];
        let target = [9_970, 10, 10, 10];
        let step = 500;
        let next = smooth(&previous, &target, step);
        assert_eq!(next.iter().sum::<u32>(), 10_000);
        for (p, n) in previous.iter().zip(&next) {
            let (p, n) = (u64::from(*p), u64::from(*n));
            // Fair odds 1/p to 1/n: a rise of p/n - 1, a fall of 1 - p/n, both within 5%.
            if n < p {
                assert!(p * 10_000 <= n * 10_500, "{p} -> {n}");
            } else {
                assert!(n * 10_000 <= p * 10_500, "{p} -> {n}");
            }
        }
        assert!(next[0] > 5_000 && next[3] < 500, "{next:?}");
        // A target within the bounds is published as it is.
        assert_eq!(
            smooth(&previous, &[5_010, 2_990, 1_500, 500], step),
            [5_010, 2_990, 1_500, 500]
        );
    }
}
