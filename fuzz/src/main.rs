//! One AFL++ harness for every target of `detective-fuzz`:
//! `detective-fuzz-afl TARGET` reads inputs in AFL's persistent mode (run by
//! `cargo afl fuzz`, see scripts/fuzz.sh); a panic is a crash.

fn main() {
    let name = std::env::args().nth(1).unwrap_or_default();
    let Some(target) = detective_fuzz::target(&name) else {
        let names: Vec<&str> = detective_fuzz::TARGETS.iter().map(|(n, _)| *n).collect();
        eprintln!("usage: detective-fuzz-afl TARGET, one of {}", names.join(", "));
        std::process::exit(2);
    };
    afl::fuzz!(|data: &[u8]| {
        target(data);
    });
}
