//! The load generator of bench/sync.sh: end-to-end latency and throughput of SYNC.SET with
//! S subscribers. Subscribers connect to SUB_ADDR and SYNC.SUBSCRIBE one key; a writer on
//! WRITER_ADDR (the same server, or another one over NATS) then
//! 1. sends N SYNC.SETs one at a time, each value the send time: every subscriber records
//!    receipt time minus send time (same machine, same clock);
//! 2. sends N more pipelined (one thread writing, another reading the replies): the time
//!    from the first send to the last receipt by the last subscriber gives the writes and
//!    the deliveries per second.
//!
//! Prints `p50_us p99_us sets_per_s deliveries_per_s`.
//!
//!   sync_bench WRITER_ADDR SUB_ADDR SUBSCRIBERS N

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const KEY: &str = "bench:sync";

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

fn command(words: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", words.len()).into_bytes();
    for w in words {
        out.extend_from_slice(format!("${}\r\n{w}\r\n", w.len()).as_bytes());
    }
    out
}

/// Reads one RESP line without its CRLF.
fn line(r: &mut impl BufRead) -> String {
    let mut s = String::new();
    r.read_line(&mut s).expect("read");
    assert!(s.ends_with("\r\n"), "connection closed or bad line: {s:?}");
    s.truncate(s.len() - 2);
    s
}

/// Reads an array of bulk strings and integers; returns its items as text.
fn array(r: &mut impl BufRead) -> Vec<String> {
    let head = line(r);
    let n: usize = head[1..].parse().expect("array length");
    (0..n)
        .map(|_| {
            let h = line(r);
            match h.as_bytes()[0] {
                b'$' => {
                    let len: i64 = h[1..].parse().expect("bulk length");
                    if len < 0 {
                        return String::new();
                    }
                    let mut b = vec![0; len as usize + 2];
                    r.read_exact(&mut b).expect("bulk");
                    b.truncate(len as usize);
                    String::from_utf8(b).expect("utf-8")
                }
                _ => h[1..].to_string(),
            }
        })
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 5 {
        eprintln!("usage: sync_bench WRITER_ADDR SUB_ADDR SUBSCRIBERS N");
        std::process::exit(2);
    }
    let (writer_addr, sub_addr) = (args[1].clone(), args[2].clone());
    let subscribers: usize = args[3].parse().expect("SUBSCRIBERS");
    let n: usize = args[4].parse().expect("N");

    let ready = Arc::new(Barrier::new(subscribers + 1));
    let warmed = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(subscribers * n)));
    let last_receipt = Arc::new(Mutex::new(Vec::with_capacity(subscribers)));
    let threads: Vec<_> = (0..subscribers)
        .map(|_| {
            let (addr, ready, warmed) = (sub_addr.clone(), ready.clone(), warmed.clone());
            let (latencies, last_receipt) = (latencies.clone(), last_receipt.clone());
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(&addr).expect("connect");
                s.set_nodelay(true).ok();
                s.write_all(&command(&["SYNC.SUBSCRIBE", KEY])).unwrap();
                let mut r = BufReader::new(s);
                assert_eq!(array(&mut r)[0], "sync.subscribe");
                ready.wait();
                let mut warm = false;
                let mut mine = Vec::with_capacity(n);
                let mut throughput = 0;
                while throughput < n {
                    let push = array(&mut r);
                    let at = now_ns();
                    let value = &push[2];
                    if let Some(sent) = value.strip_prefix('L') {
                        mine.push((at - sent.parse::<u128>().unwrap()) as u64);
                    } else if value.starts_with('T') {
                        throughput += 1;
                    } else if !warm {
                        warm = true;
                        warmed.fetch_add(1, Ordering::SeqCst);
                    }
                }
                latencies.lock().unwrap().extend(mine);
                last_receipt.lock().unwrap().push(Instant::now());
            })
        })
        .collect();
    ready.wait();

    let w = TcpStream::connect(&writer_addr).expect("connect writer");
    w.set_nodelay(true).ok();
    let mut wr = w.try_clone().unwrap();
    let mut rd = BufReader::new(w);
    let mut set = |value: &str| {
        wr.write_all(&command(&["SYNC.SET", KEY, value])).unwrap();
        let reply = line(&mut rd);
        assert!(reply.starts_with(':'), "{reply}");
    };
    // Over NATS the subscription may take a moment: write until every subscriber heard one.
    let deadline = Instant::now() + Duration::from_secs(30);
    while warmed.load(Ordering::SeqCst) < subscribers {
        assert!(
            Instant::now() < deadline,
            "subscribers never received the warm-up"
        );
        set("warm");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(100));
    for _ in 0..n {
        set(&format!("L{}", now_ns()));
    }

    let mut wr = rd.get_ref().try_clone().unwrap();
    let started = Instant::now();
    let sender = std::thread::spawn(move || {
        for i in 0..n {
            wr.write_all(&command(&["SYNC.SET", KEY, &format!("T{i}")]))
                .unwrap();
        }
    });
    // Read the replies as they come, so the writer's socket never fills.
    for _ in 0..n {
        line(&mut rd);
    }
    sender.join().unwrap();
    for t in threads {
        t.join().unwrap();
    }
    let end = *last_receipt.lock().unwrap().iter().max().unwrap();
    let secs = end.duration_since(started).as_secs_f64();
    let mut l = latencies.lock().unwrap();
    l.sort_unstable();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)] as f64 / 1000.0;
    println!(
        "{:.0} {:.0} {:.0} {:.0}",
        pct(0.50),
        pct(0.99),
        n as f64 / secs,
        (n * subscribers) as f64 / secs
    );
}
