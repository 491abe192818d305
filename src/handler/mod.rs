//! Handlers: async closures whose arguments are extractors.
//!
//! One trait, [`Handler`], covers every kind of handler: namespace connect handlers,
//! connect middleware, event handlers and disconnect handlers. They differ only in the
//! *parts* they are called with ([`ConnectParts`], [`MessageParts`], [`DisconnectParts`])
//! and so in which extractors they accept. The impls for closures of 0 to 16 arguments
//! come from one macro.

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;

use crate::extract::FromParts;

mod parts;
pub use parts::{ConnectParts, DisconnectParts, HandlerParts, MessageParts};

/// A boxed future, as handlers return it once erased.
pub(crate) type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A function that can handle a Socket.IO event, connection or disconnection.
///
/// It is implemented for async closures and functions `Fn(T1, .., Tn) -> impl Future` whose
/// arguments all implement [`FromParts<P>`](crate::extract::FromParts). You never implement
/// it yourself.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a valid Socket.IO handler here",
    label = "not a handler for these parts",
    note = "a handler is an async fn or closure returning a `'static` future, whose arguments (at most 16) are all extractors valid for this kind of handler",
    note = "every handler may take `SocketRef`, `State<T>`, `Extension<T>`, `Handshake`, `SocketIo`; connect handlers and middleware also `Data<T>`/`TryData<T>` (the auth payload); event handlers also `Data<T>`/`TryData<T>`, `Args`, `AckSender`, `Event`; disconnect handlers also `DisconnectReason`",
    note = "event, connect and disconnect handlers return `()`; connect middleware returns `Result<(), E>`",
    note = "a closure that captures variables must clone them into an `async move` block: `move |s: SocketRef| {{ let x = x.clone(); async move {{ .. }} }}`"
)]
pub trait Handler<P, T, R>: Send + Sync + Sized + 'static {
    /// Extracts the arguments and starts the handler. `None` when an extractor refused
    /// (the refusal has been logged with its context).
    fn call(&self, parts: P) -> Option<BoxFuture<R>>;
}

macro_rules! all_the_tuples {
    ($name:ident) => {
        $name!();
        $name!(T1);
        $name!(T1, T2);
        $name!(T1, T2, T3);
        $name!(T1, T2, T3, T4);
        $name!(T1, T2, T3, T4, T5);
        $name!(T1, T2, T3, T4, T5, T6);
        $name!(T1, T2, T3, T4, T5, T6, T7);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13);
        $name!(T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14);
        $name!(
            T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15
        );
        $name!(
            T1, T2, T3, T4, T5, T6, T7, T8, T9, T10, T11, T12, T13, T14, T15, T16
        );
    };
}

macro_rules! impl_handler {
    ($($ty:ident),*) => {
        #[allow(non_snake_case, unused_mut, unused_variables)]
        impl<P, F, Fut, R, $($ty,)*> Handler<P, ($($ty,)*), R> for F
        where
            P: HandlerParts,
            F: Fn($($ty,)*) -> Fut + Send + Sync + 'static,
            Fut: Future<Output = R> + Send + 'static,
            $($ty: FromParts<P> + Send + 'static,)*
        {
            fn call(&self, mut parts: P) -> Option<BoxFuture<R>> {
                $(
                    let $ty = match $ty::from_parts(&mut parts) {
                        Ok(v) => v,
                        Err(e) => {
                            parts.rejected(std::any::type_name::<$ty>(), &e);
                            return None;
                        }
                    };
                )*
                Some(Box::pin((self)($($ty,)*)))
            }
        }
    };
}

all_the_tuples!(impl_handler);

/// A handler with its argument types erased, as the server stores it.
pub(crate) trait ErasedHandler<P, R>: Send + Sync + 'static {
    fn call(&self, parts: P) -> Option<BoxFuture<R>>;
}

struct Erased<H, T>(H, PhantomData<fn() -> T>);

impl<P, R, H, T> ErasedHandler<P, R> for Erased<H, T>
where
    H: Handler<P, T, R>,
    T: 'static,
{
    fn call(&self, parts: P) -> Option<BoxFuture<R>> {
        self.0.call(parts)
    }
}

pub(crate) type BoxedHandler<P, R> = std::sync::Arc<dyn ErasedHandler<P, R>>;

pub(crate) fn erase<P, R, H, T>(h: H) -> BoxedHandler<P, R>
where
    H: Handler<P, T, R>,
    T: 'static,
    P: 'static,
    R: 'static,
{
    std::sync::Arc::new(Erased(h, PhantomData))
}

/// What a connect middleware may fail with: any error that displays, or a
/// [`ConnectError`](crate::ConnectError) carrying extra `data` for the client.
pub trait IntoConnectError {
    /// Converts into the error sent to the client's `connect_error`.
    fn into_connect_error(self) -> crate::ConnectError;
}

impl<E: std::fmt::Display> IntoConnectError for E {
    fn into_connect_error(self) -> crate::ConnectError {
        crate::ConnectError::new(self.to_string())
    }
}

impl IntoConnectError for crate::ConnectError {
    fn into_connect_error(self) -> crate::ConnectError {
        self
    }
}
