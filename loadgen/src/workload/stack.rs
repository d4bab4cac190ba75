//! Multi-line stack traces, appended to a message after a newline, in the
//! style of the service's language: Java exceptions with `\tat` frames, or a
//! Rust panic with a `stack backtrace:`. They exercise the escaping of
//! newlines and tabs and give messages the long, repetitive tails that real
//! error logs have.

use super::catalog::StackStyle;
use super::rng::Rng;
use super::template::push_u64;

/// Frames per trace, inclusive bounds.
pub(crate) const FRAMES_MIN: u64 = 5;
pub(crate) const FRAMES_MAX: u64 = 15;

/// Appends `\n` and a trace of `FRAMES_MIN..=FRAMES_MAX` frames.
pub(crate) fn push_stack_trace(out: &mut String, rng: &mut Rng, style: StackStyle) {
    let frame_count = rng.between(FRAMES_MIN, FRAMES_MAX);
    match style {
        StackStyle::Java { package } => push_java(out, rng, package, frame_count),
        StackStyle::Rust { krate } => push_rust(out, rng, krate, frame_count),
    }
}

fn push_java(out: &mut String, rng: &mut Rng, package: &str, frame_count: u64) {
    const EXCEPTIONS: [&str; 5] = [
        "java.net.SocketTimeoutException: Read timed out",
        "java.lang.IllegalStateException: Connection pool shut down",
        "org.postgresql.util.PSQLException: ERROR: deadlock detected",
        "java.util.concurrent.TimeoutException: Waited 5000 milliseconds",
        "java.lang.NullPointerException: Cannot invoke \"String.length()\" because \"name\" is null",
    ];
    const LIBRARY_FRAMES: [&str; 6] = [
        "java.base/java.net.SocketInputStream.socketRead0(Native Method)",
        "com.zaxxer.hikari.pool.HikariPool.getConnection(HikariPool.java:181)",
        "org.springframework.web.servlet.FrameworkServlet.service(FrameworkServlet.java:883)",
        "io.netty.channel.nio.NioEventLoop.run(NioEventLoop.java:569)",
        "java.base/java.util.concurrent.ThreadPoolExecutor.runWorker(ThreadPoolExecutor.java:1136)",
        "java.base/java.lang.Thread.run(Thread.java:833)",
    ];
    const CLASSES: [&str; 6] = [
        "Service",
        "Repository",
        "Controller",
        "Client",
        "Handler",
        "Validator",
    ];
    const METHODS: [&str; 6] = [
        "process",
        "handle",
        "execute",
        "findById",
        "save",
        "lambda$submit$0",
    ];
    out.push('\n');
    out.push_str(rng.pick(&EXCEPTIONS));
    for frame in 0..frame_count {
        out.push_str("\n\tat ");
        // The innermost and outermost frames are library code, as in life.
        if frame < 2 || frame + 2 >= frame_count {
            out.push_str(rng.pick(&LIBRARY_FRAMES));
            continue;
        }
        let class = rng.pick(&CLASSES);
        out.push_str("com.acme.");
        out.push_str(package);
        out.push('.');
        out.push_str(class);
        out.push('.');
        out.push_str(rng.pick(&METHODS));
        out.push('(');
        out.push_str(class);
        out.push_str(".java:");
        push_u64(out, rng.between(20, 900));
        out.push(')');
    }
    out.push_str("\n\t... ");
    push_u64(out, rng.between(3, 60));
    out.push_str(" more");
}

const RUST_MODULES: [&str; 6] = ["handler", "store", "client", "codec", "pool", "service"];
const RUST_FUNCTIONS: [&str; 6] = ["call", "get", "decode", "run", "poll", "{{closure}}"];

fn push_rust(out: &mut String, rng: &mut Rng, krate: &str, frame_count: u64) {
    const PANICS: [&str; 3] = [
        "called `Result::unwrap()` on an `Err` value: Os { code: 104, kind: ConnectionReset, message: \"Connection reset by peer\" }",
        "index out of bounds: the len is 0 but the index is 0",
        "called `Option::unwrap()` on a `None` value",
    ];
    const RUNTIME_FRAMES: [&str; 3] = [
        "tokio::runtime::task::harness::Harness<T,S>::poll",
        "tokio::runtime::scheduler::multi_thread::worker::Context::run",
        "std::sys::pal::unix::thread::Thread::new::thread_start",
    ];
    let module = rng.pick(&RUST_MODULES);
    out.push_str("\nthread 'tokio-runtime-worker' panicked at src/");
    out.push_str(module);
    out.push_str(".rs:");
    push_u64(out, rng.between(10, 600));
    out.push(':');
    push_u64(out, rng.between(5, 60));
    out.push_str(":\n");
    out.push_str(rng.pick(&PANICS));
    out.push_str("\nstack backtrace:");
    for frame in 0..frame_count {
        // std right-aligns frame numbers to four columns.
        out.push_str(if frame < 10 { "\n   " } else { "\n  " });
        push_u64(out, frame);
        out.push_str(": ");
        let from_end = frame_count - frame;
        match frame {
            0 => out.push_str("rust_begin_unwind"),
            1 => out.push_str("core::panicking::panic_fmt"),
            _ if from_end <= 3 => out.push_str(RUNTIME_FRAMES[3 - from_end as usize]),
            _ => push_rust_app_frame(out, rng, krate),
        }
    }
}

fn push_rust_app_frame(out: &mut String, rng: &mut Rng, krate: &str) {
    let module = rng.pick(&RUST_MODULES);
    out.push_str(krate);
    out.push_str("::");
    out.push_str(module);
    out.push_str("::");
    out.push_str(rng.pick(&RUST_FUNCTIONS));
    out.push_str("\n             at ./src/");
    out.push_str(module);
    out.push_str(".rs:");
    push_u64(out, rng.between(10, 600));
    out.push(':');
    push_u64(out, rng.between(5, 60));
}
