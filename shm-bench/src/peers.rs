//! [`Tx`]/[`Rx`] over the peers (feature `peers`): iceoryx2
//! publish/subscribe (copying `send_copy`, and writing in place into a
//! loaned sample), the hand ring in a `shared_memory` crate mapping, and
//! byte streams (Unix domain socket, pipe).

#![expect(clippy::inline_always, reason = "every send and recv alike (link.rs)")]

use crate::hand::Region;
use crate::link::{Rx, Tx, check, check_words, stamp};
use crate::proc::Stopped;
use crate::{Error, Result};
use core::mem::MaybeUninit;
use iceoryx2::port::publisher::Publisher;
use iceoryx2::port::subscriber::Subscriber;
use iceoryx2::prelude::*;
use std::io::{BufReader, Read, Write};
use zerocopy::IntoBytes;

/// The `shared_memory` crate's mapping, as a ring's region.
pub struct Shmem(pub shared_memory::Shmem);

impl Region for Shmem {
    fn base(&self) -> *mut u8 {
        self.0.as_ptr()
    }
    fn size(&self) -> usize {
        self.0.len()
    }
}

/// Creates a `shared_memory` mapping of `len` bytes named `name`.
pub fn shmem_create(name: &str, len: usize) -> Result<Shmem> {
    Ok(Shmem(shared_memory::ShmemConf::new().os_id(format!("/{name}")).size(len).create()?))
}

/// Opens the `shared_memory` mapping `name`.
pub fn shmem_open(name: &str) -> Result<Shmem> {
    Ok(Shmem(shared_memory::ShmemConf::new().os_id(format!("/{name}")).open()?))
}

/// What iceoryx2's files of this run start with (under its root folder
/// and in /dev/shm): `shmrs-bench-<pid>-iox2-`, `pid` being the parent's.
pub const IOX2_TAG: &str = "iox2-";

/// An iceoryx2 node whose files all sit under names of this run (`pid` is
/// the parent's): root folder `<tmp>/shmrs-bench-<pid>-iox2-root/`, file
/// prefix `shmrs-bench-<pid>-iox2-`; signal handling left to us.
pub fn iox2_node(pid: u32) -> Result<Node<ipc::Service>> {
    set_log_level(LogLevel::Error);
    let mut config = Config::default();
    let prefix = format!("shmrs-bench-{pid}-{IOX2_TAG}");
    config.global.prefix = FileName::new(prefix.as_bytes()).map_err(|e| format!("iceoryx2 prefix {prefix}: {e:?}"))?;
    let root = std::env::temp_dir().join(format!("{prefix}root/"));
    let root = format!("{}/", root.display());
    let root = Path::new(root.as_bytes()).map_err(|e| format!("iceoryx2 root {root}: {e:?}"))?;
    config.global.set_root_path(&root);
    let node = NodeBuilder::new()
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<ipc::Service>()?;
    Ok(node)
}

/// How an iceoryx2 service is set up.
#[derive(Clone, Copy, Debug)]
pub enum IoxSetup {
    /// As iceoryx2's own publish-subscribe benchmark
    /// (`benchmarks/publish-subscribe`) sets up its round trip: subscriber
    /// buffer 1, history 0, safe overflow on, default publisher. One item
    /// is in flight at a time, so nothing is ever overwritten.
    RoundTrip,
    /// A stream of `capacity` items in flight: subscriber buffer
    /// `capacity`, history 0, no overflow (a stream must not lose items),
    /// and the publisher waits while the buffer is full.
    Stream(usize),
}

/// An iceoryx2 publish-subscribe service factory with payload `P`.
pub type IoxService<P> = iceoryx2::service::port_factory::publish_subscribe::PortFactory<ipc::Service, P, ()>;

/// The service `name` with payload `P`, one publisher and `subscribers`
/// subscribers, set up as `setup` says.
fn iox2_service<P: core::fmt::Debug + ZeroCopySend + 'static>(
    node: &Node<ipc::Service>,
    name: &str,
    setup: IoxSetup,
    subscribers: usize,
) -> Result<IoxService<P>> {
    let service_name = ServiceName::new(name).map_err(|e| format!("iceoryx2 service {name}: {e:?}"))?;
    let (buffer, overflow) = match setup {
        IoxSetup::RoundTrip => (1, true),
        IoxSetup::Stream(capacity) => (capacity, false),
    };
    Ok(node
        .service_builder(&service_name)
        .publish_subscribe::<P>()
        .max_publishers(1)
        .max_subscribers(subscribers)
        .history_size(0)
        .subscriber_max_buffer_size(buffer)
        .enable_safe_overflow(overflow)
        .open_or_create()?)
}

/// The publisher of `service` (see [`IoxSetup`]).
fn iox2_publisher_of<P: core::fmt::Debug + ZeroCopySend + 'static>(
    service: &IoxService<P>,
    setup: IoxSetup,
) -> Result<Publisher<ipc::Service, P, ()>> {
    Ok(match setup {
        IoxSetup::RoundTrip => service.publisher_builder().create()?,
        IoxSetup::Stream(_) => {
            service.publisher_builder().backpressure_strategy(BackpressureStrategy::RetryUntilDelivered).create()?
        }
    })
}

/// The publisher of the service `name` (see [`IoxSetup`]).
pub fn iox2_publisher<P: core::fmt::Debug + ZeroCopySend + 'static>(
    node: &Node<ipc::Service>,
    name: &str,
    setup: IoxSetup,
) -> Result<Publisher<ipc::Service, P, ()>> {
    iox2_publisher_of(&iox2_service::<P>(node, name, setup, 1)?, setup)
}

/// The subscriber of the service `name` (see [`IoxSetup`]), which admits
/// `subscribers` subscribers.
pub fn iox2_subscriber_of<P: core::fmt::Debug + ZeroCopySend + 'static>(
    node: &Node<ipc::Service>,
    name: &str,
    setup: IoxSetup,
    subscribers: usize,
) -> Result<Subscriber<ipc::Service, P, ()>> {
    let service = iox2_service::<P>(node, name, setup, subscribers)?;
    Ok(match setup {
        IoxSetup::RoundTrip => service.subscriber_builder().create()?,
        IoxSetup::Stream(capacity) => service.subscriber_builder().buffer_size(capacity).create()?,
    })
}

/// The subscriber of the service `name` (see [`IoxSetup`]).
pub fn iox2_subscriber<P: core::fmt::Debug + ZeroCopySend + 'static>(
    node: &Node<ipc::Service>,
    name: &str,
    setup: IoxSetup,
) -> Result<Subscriber<ipc::Service, P, ()>> {
    iox2_subscriber_of(node, name, setup, 1)
}

/// A publisher of `[u64; N]` that must reach `subscribers` subscribers:
/// [`connect`](Self::connect) waits until they are all there, and every
/// send must then reach all of them.
pub struct IoxFanTx<const N: usize> {
    service: IoxService<[u64; N]>,
    inner: IoxTx<N>,
    subscribers: usize,
}

impl<const N: usize> IoxFanTx<N> {
    /// Creates the service `name` for `subscribers` subscribers and its
    /// publisher.
    pub fn new(node: &Node<ipc::Service>, name: &str, setup: IoxSetup, subscribers: usize) -> Result<Self> {
        let service = iox2_service::<[u64; N]>(node, name, setup, subscribers)?;
        let inner = IoxTx::new(iox2_publisher_of(&service, setup)?);
        Ok(Self { service, inner, subscribers })
    }

    /// Waits (up to 10 s) until every subscriber has joined, and connects
    /// the publisher to them.
    pub fn connect(&self) -> Result<()> {
        use iceoryx2::port::update_connections::UpdateConnections;
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while self.service.dynamic_config().number_of_subscribers() < self.subscribers {
            if std::time::Instant::now() > deadline {
                return Err(format!("iceoryx2: {} subscribers did not join", self.subscribers).into());
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        self.inner.publisher.update_connections().map_err(|e| format!("iceoryx2 connections: {e:?}"))?;
        Ok(())
    }
}

impl<const N: usize> Tx for IoxFanTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.inner.item, *next);
        let reached = self.inner.publisher.send_copy(*self.inner.item)?;
        if reached != self.subscribers {
            return Err(
                format!("iceoryx2 delivered item {} to {reached} of {} subscribers", *next, self.subscribers).into()
            );
        }
        *next += 1;
        Ok(1)
    }
}

/// Sends copies of an item (`send_copy`).
pub struct IoxTx<const N: usize> {
    publisher: Publisher<ipc::Service, [u64; N], ()>,
    item: Box<[u64; N]>,
}

impl<const N: usize> IoxTx<N> {
    /// Sends through `publisher`.
    pub fn new(publisher: Publisher<ipc::Service, [u64; N], ()>) -> Self {
        Self { publisher, item: crate::link::boxed() }
    }
}

impl<const N: usize> Tx for IoxTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        // 0 receivers: the subscriber is not connected yet; send again.
        let sent = u64::from(self.publisher.send_copy(*self.item)? > 0);
        *next += sent;
        Ok(sent)
    }
}

/// Receives samples of `[u64; N]`, copying each payload out (as shm's
/// `read` does) before checking it.
pub struct IoxRx<const N: usize> {
    subscriber: Subscriber<ipc::Service, [u64; N], ()>,
    item: Box<[u64; N]>,
}

impl<const N: usize> IoxRx<N> {
    /// Receives through `subscriber`.
    pub fn new(subscriber: Subscriber<ipc::Service, [u64; N], ()>) -> Self {
        Self { subscriber, item: crate::link::boxed() }
    }
}

impl<const N: usize> Rx for IoxRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let Some(sample) = self.subscriber.receive()? else { return Ok(0) };
        self.item.copy_from_slice(sample.payload());
        drop(sample);
        check(&self.item, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// A sample of `N` words written in place: only the stamps are written.
pub type Loaned<const N: usize> = [MaybeUninit<u64>; N];

/// Sends by loaning a sample and writing the stamps in place (`loan_uninit`).
pub struct IoxLoanTx<const N: usize>(pub Publisher<ipc::Service, Loaned<N>, ()>);

impl<const N: usize> Tx for IoxLoanTx<N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        let sample = self.0.loan_uninit()?;
        // SAFETY: the payload is an array of `MaybeUninit<u64>`, which is
        // valid uninitialized.
        let mut sample = unsafe { sample.assume_init() };
        let words = sample.payload_mut();
        for i in [0, N / 2, N - 1] {
            words[i].write(*next);
        }
        let sent = u64::from(sample.send()? > 0);
        *next += sent;
        Ok(sent)
    }
}

/// Receives loaned samples, reading the stamps in place.
pub struct IoxLoanRx<const N: usize>(pub Subscriber<ipc::Service, Loaned<N>, ()>);

impl<const N: usize> Rx for IoxLoanRx<N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        let Some(sample) = self.0.receive()? else { return Ok(0) };
        let words = sample.payload();
        // SAFETY: every sample the other process (this same binary, in
        // `IoxLoanTx::send`) sends has these three words written.
        let first = unsafe { words[0].assume_init_read() };
        // SAFETY: as above.
        let middle = unsafe { words[N / 2].assume_init_read() };
        // SAFETY: as above.
        let last = unsafe { words[N - 1].assume_init_read() };
        check_words(first, middle, last, *expected)?;
        *expected += 1;
        Ok(1)
    }
}

/// Sends items over a byte stream, one `write_all` per item (no
/// buffering: an item leaves when it is sent).
pub struct StreamTx<W: Write, const N: usize> {
    out: W,
    item: Box<[u64; N]>,
}

impl<W: Write, const N: usize> StreamTx<W, N> {
    /// Sends over `out`.
    pub fn new(out: W) -> Self {
        Self { out, item: crate::link::boxed() }
    }
}

impl<W: Write, const N: usize> Tx for StreamTx<W, N> {
    #[inline(always)]
    fn send(&mut self, next: &mut u64, _max: u64) -> Result<u64> {
        stamp(&mut self.item, *next);
        self.out.write_all(self.item.as_bytes())?;
        *next += 1;
        Ok(1)
    }
}

/// Receives items from a byte stream through a 256 KiB read buffer; the
/// end of the stream is the parent's stop.
pub struct StreamRx<R: Read, const N: usize> {
    input: BufReader<R>,
    item: Box<[u64; N]>,
}

impl<R: Read, const N: usize> StreamRx<R, N> {
    /// Receives from `input`.
    pub fn new(input: R) -> Self {
        Self { input: BufReader::with_capacity(256 * 1024, input), item: crate::link::boxed() }
    }
}

impl<R: Read, const N: usize> Rx for StreamRx<R, N> {
    #[inline(always)]
    fn recv(&mut self, expected: &mut u64, _max: u64) -> Result<u64> {
        if let Err(e) = self.input.read_exact(self.item.as_mut_bytes()) {
            return Err(if e.kind() == std::io::ErrorKind::UnexpectedEof { Stopped.into() } else { Error::from(e) });
        }
        check(&self.item, *expected)?;
        *expected += 1;
        Ok(1)
    }
}
