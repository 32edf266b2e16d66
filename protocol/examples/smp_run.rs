//! One full SMP run (§8.5), both sides on one thread, timed: the Rust half of
//! scripts/bench-smp.sh, which runs python-potr's SMP the same way.
//!
//! `smp_run --runs N` prints `run <i> <milliseconds>` for N runs. Run 1 is the first run in a
//! fresh process. Each run draws fresh exponents from the OS, checks every proof, range and
//! subgroup, and passes each message through its wire encoding (§7, §8.3), as potr does.

use cryptully_protocol::inner::InnerMessage;
use cryptully_protocol::smp;
use std::process::ExitCode;
use std::time::Instant;

fn wire(msg: InnerMessage) -> Result<InnerMessage, String> {
    let mut bytes = Vec::new();
    msg.encode(&mut bytes);
    InnerMessage::decode(&bytes).map_err(|e| e.to_string())
}

fn one_run() -> Result<(), String> {
    let mut rng = rand_core::OsRng;
    let secret = |a: &str| smp::secret(&[1; 32], &[2; 32], &[3; 32], a);
    let (asker, m1) = smp::step1(secret("Paris"), smp::Step1Random::draw(&mut rng));
    let InnerMessage::Smp1(m1) = wire(InnerMessage::Smp1(m1))? else {
        return Err("SMP1 changed kind on the wire".into());
    };
    let checked = smp::check_smp1(&m1).map_err(|e| e.to_string())?;
    let (answerer, m2) = smp::step2(&checked, secret("Paris"), smp::Step2Random::draw(&mut rng));
    let InnerMessage::Smp2(m2) = wire(InnerMessage::Smp2(m2))? else {
        return Err("SMP2 changed kind on the wire".into());
    };
    let (asker, m3) =
        smp::step3(asker, &m2, smp::Step3Random::draw(&mut rng)).map_err(|e| e.to_string())?;
    let InnerMessage::Smp3(m3) = wire(InnerMessage::Smp3(m3))? else {
        return Err("SMP3 changed kind on the wire".into());
    };
    let (answerer_matched, m4) =
        smp::step4(answerer, &m3, smp::Step4Random::draw(&mut rng)).map_err(|e| e.to_string())?;
    let InnerMessage::Smp4(m4) = wire(InnerMessage::Smp4(m4))? else {
        return Err("SMP4 changed kind on the wire".into());
    };
    let asker_matched = smp::step5(asker, &m4).map_err(|e| e.to_string())?;
    if answerer_matched && asker_matched {
        Ok(())
    } else {
        Err("equal answers did not match".into())
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let runs = match args.as_slice() {
        [_] => 1,
        [_, flag, n] if flag == "--runs" => match n.parse::<u32>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!("smp_run: --runs takes a whole number above 0");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("usage: smp_run [--runs N]");
            return ExitCode::from(2);
        }
    };
    for i in 1..=runs {
        let start = Instant::now();
        if let Err(e) = one_run() {
            eprintln!("smp_run: {e}");
            return ExitCode::FAILURE;
        }
        println!("run {i} {:.3}", start.elapsed().as_secs_f64() * 1e3);
    }
    ExitCode::SUCCESS
}
