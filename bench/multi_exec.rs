//! A small load generator for bench/compare.sh: each of C connections sends `MULTI`, ten
//! `INCR`s and `EXEC` as one write and waits for the 22 reply lines, N transactions in all.
//! Prints the transactions per second.
//!
//!   multi_exec_bench HOST:PORT CLIENTS TRANSACTIONS

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Instant;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: multi_exec_bench HOST:PORT CLIENTS TRANSACTIONS");
        std::process::exit(2);
    }
    let addr = args[1].clone();
    let clients: usize = args[2].parse().expect("CLIENTS");
    let total: usize = args[3].parse().expect("TRANSACTIONS");
    let mut request = Vec::new();
    let mut put = |words: &[&str]| {
        request.extend_from_slice(format!("*{}\r\n", words.len()).as_bytes());
        for w in words {
            request.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
        }
    };
    put(&["MULTI"]);
    for _ in 0..10 {
        put(&["INCR", "bench:multi"]);
    }
    put(&["EXEC"]);
    // +OK, ten +QUEUED, *10 and ten integers: 22 lines, no bulk strings.
    const LINES: usize = 22;
    let started = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|i| {
            let addr = addr.clone();
            let request = request.clone();
            let count = total / clients + usize::from(i < total % clients);
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_nodelay(true).ok();
                let mut buf = vec![0u8; 64 * 1024];
                for _ in 0..count {
                    s.write_all(&request).expect("write");
                    let mut lines = 0;
                    while lines < LINES {
                        let n = s.read(&mut buf).expect("read");
                        assert!(n > 0, "server closed the connection");
                        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("client thread");
    }
    let secs = started.elapsed().as_secs_f64();
    println!("{:.2}", total as f64 / secs);
}
