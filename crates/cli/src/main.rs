//! `mtls`: a private CA and mutual-TLS toolkit. This binary only hands over to the command
//! line in `mtls_cli` (parse, call the libraries, print).
#![forbid(unsafe_code)]

// jemalloc rather than glibc's malloc. rustls's buffered API copies every 16 KiB record into a
// freshly allocated buffer, both ways. On AMD Zen hosts, glibc (Debian 12's 2.36) copies blocks of
// that size with `rep movsb`, which runs many times slower for some alignments of source and
// destination (glibc bug 30994), and glibc's malloc hands out 16-byte-aligned blocks: a tunnel's
// bulk copy spent more CPU in memcpy than in AES-GCM. jemalloc puts blocks of that size on a page
// boundary; with it the same tunnel's CPU per GB sent to its backend fell from 2.7 to 1.2 CPU-s
// (bench/tunnel, same host). Idle connections cost the same either way (14.2 and 14.1 KiB each).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOC: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    mtls_cli::run()
}
