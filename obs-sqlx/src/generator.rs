//! A stream written as an `async` block, for streams that own the pool connection they borrow
//! from (the same technique as `async-stream`, without macros).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::future::BoxFuture;

/// Hands items from the `async` block to the stream.
pub(crate) struct Yielder<T> {
    slot: Arc<Mutex<Option<T>>>,
}

impl<T> Yielder<T> {
    /// Yields `item` to the stream's consumer; resolves when the consumer polls again.
    pub(crate) fn send(&self, item: T) -> Send<'_, T> {
        Send {
            slot: &self.slot,
            item: Some(item),
        }
    }
}

/// The future of [`Yielder::send`].
pub(crate) struct Send<'a, T> {
    slot: &'a Mutex<Option<T>>,
    item: Option<T>,
}

impl<T> Unpin for Send<'_, T> {}

impl<T> Future for Send<'_, T> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        match self.item.take() {
            Some(item) => {
                *self.slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(item);
                // No wake-up needed: `Generator::poll_next` sees the filled slot and returns
                // the item; the consumer's next poll resumes the block here.
                Poll::Pending
            }
            None => Poll::Ready(()),
        }
    }
}

/// A [`Stream`] of `Result<T, E>` driven by an `async` block.
pub(crate) struct Generator<'a, T, E> {
    slot: Arc<Mutex<Option<T>>>,
    body: Option<BoxFuture<'a, Result<(), E>>>,
    /// An error returned in the same poll as a yielded item, delivered next.
    tail: Option<E>,
}

/// Runs `body` as a stream: every [`Yielder::send`] is an `Ok` item, an `Err` return is the
/// last item.
pub(crate) fn generate<'a, T, E, F, Fut>(body: F) -> Generator<'a, T, E>
where
    T: std::marker::Send + 'a,
    F: FnOnce(Yielder<T>) -> Fut,
    Fut: Future<Output = Result<(), E>> + std::marker::Send + 'a,
{
    let slot = Arc::new(Mutex::new(None));
    let yielder = Yielder {
        slot: Arc::clone(&slot),
    };
    Generator {
        slot,
        body: Some(Box::pin(body(yielder))),
        tail: None,
    }
}

// Nothing in a generator is structurally pinned: the body is boxed.
impl<T, E> Unpin for Generator<'_, T, E> {}

impl<T, E> Stream for Generator<'_, T, E> {
    type Item = Result<T, E>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let Some(body) = self.body.as_mut() else {
            return Poll::Ready(self.tail.take().map(Err));
        };
        let done = body.as_mut().poll(cx);
        let item = self.slot.lock().unwrap_or_else(|p| p.into_inner()).take();
        match (done, item) {
            (Poll::Pending, Some(item)) => Poll::Ready(Some(Ok(item))),
            (Poll::Ready(result), Some(item)) => {
                self.body = None;
                self.tail = result.err();
                Poll::Ready(Some(Ok(item)))
            }
            (Poll::Ready(Ok(())), None) => {
                self.body = None;
                Poll::Ready(None)
            }
            (Poll::Ready(Err(e)), None) => {
                self.body = None;
                Poll::Ready(Some(Err(e)))
            }
            (Poll::Pending, None) => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::StreamExt;

    #[tokio::test]
    async fn yields_items_then_the_error() {
        let stream = generate(|y| async move {
            for i in 0..3 {
                y.send(i).await;
            }
            Err::<(), _>("boom")
        });
        let items: Vec<_> = stream.collect().await;
        assert_eq!(items, vec![Ok(0), Ok(1), Ok(2), Err("boom")]);
    }
}
