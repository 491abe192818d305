//! The subscriber task: one pub/sub connection, kept alive and resubscribed.

use std::sync::{Arc, RwLock};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::{DriverConfig, Health, MIN_BACKOFF, Routes, SubCmd, timeout_error};

/// What ended a live subscriber connection.
enum Ended {
    /// The driver is gone: stop.
    Stop,
    /// The connection failed: reconnect.
    Lost(String),
}

pub(super) async fn run_subscriber(
    client: redis::Client,
    config: DriverConfig,
    routes: Arc<RwLock<Routes>>,
    health: Arc<Health>,
    mut rx: mpsc::UnboundedReceiver<SubCmd>,
) {
    let mut backoff = MIN_BACKOFF;
    let mut barriers: Vec<oneshot::Sender<()>> = Vec::new();
    loop {
        let connected =
            tokio::time::timeout(config.connect_timeout, client.get_async_pubsub()).await;
        let pubsub = match connected {
            Ok(Ok(p)) => p,
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("cannot connect to Redis: {e}"),
                    _ => "connecting to Redis timed out".to_owned(),
                };
                health.set_subscribed(false, Some(&why));
                // Wait out the backoff, still taking commands (the routes table keeps the
                // subscriptions; barriers wait for the next live connection).
                let until = Instant::now() + backoff;
                backoff = (backoff * 2).min(config.max_backoff);
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(until) => break,
                        cmd = rx.recv() => match cmd {
                            None => return,
                            Some(SubCmd::Barrier(b)) => barriers.push(b),
                            Some(_) => {}
                        }
                    }
                }
                continue;
            }
        };
        let (mut sink, mut stream) = pubsub.split();
        // Subscribe to everything registered so far.
        let (patterns, channels): (Vec<String>, Vec<String>) = {
            let r = routes.read().unwrap_or_else(|e| e.into_inner());
            (
                r.patterns.keys().cloned().collect(),
                r.channels.keys().cloned().collect(),
            )
        };
        let subscribed = async {
            if !patterns.is_empty() {
                sink.psubscribe(&patterns).await?;
            }
            if !channels.is_empty() {
                sink.subscribe(&channels).await?;
            }
            Ok::<(), redis::RedisError>(())
        };
        match tokio::time::timeout(config.command_timeout, subscribed).await {
            Ok(Ok(())) => {}
            failed => {
                let why = match failed {
                    Ok(Err(e)) => format!("SUBSCRIBE failed: {e}"),
                    _ => "SUBSCRIBE timed out".to_owned(),
                };
                health.set_subscribed(false, Some(&why));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(config.max_backoff);
                continue;
            }
        }
        backoff = MIN_BACKOFF;
        health.set_subscribed(true, None);
        for b in barriers.drain(..) {
            let _ = b.send(());
        }

        let mut ping = tokio::time::interval(config.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        let ended = loop {
            tokio::select! {
                msg = stream.next() => match msg {
                    Some(msg) => dispatch(&routes, &msg),
                    None => break Ended::Lost("the connection closed".to_owned()),
                },
                cmd = rx.recv() => {
                    let result = match cmd {
                        None => break Ended::Stop,
                        Some(SubCmd::Barrier(b)) => {
                            let _ = b.send(());
                            Ok(())
                        }
                        Some(SubCmd::Subscribe { patterns, channels }) => {
                            tokio::time::timeout(config.command_timeout, async {
                                sink.psubscribe(&patterns).await?;
                                sink.subscribe(&channels).await
                            }).await
                        .unwrap_or_else(|_| Err(timeout_error("SUBSCRIBE")))
                        }
                        Some(SubCmd::Unsubscribe { patterns, channels }) => {
                            tokio::time::timeout(config.command_timeout, async {
                                sink.punsubscribe(&patterns).await?;
                                sink.unsubscribe(&channels).await
                            }).await
                        .unwrap_or_else(|_| Err(timeout_error("UNSUBSCRIBE")))
                        }
                    };
                    if let Err(e) = result {
                        break Ended::Lost(format!("subscription change failed: {e}"));
                    }
                }
                _ = ping.tick() => {
                    let alive = tokio::time::timeout(
                        config.command_timeout,
                        sink.ping::<redis::Value>(),
                    ).await;
                    match alive {
                        Ok(Ok(_)) => {}
                        Ok(Err(e)) => break Ended::Lost(format!("ping failed: {e}")),
                        Err(_) => break Ended::Lost("ping timed out".to_owned()),
                    }
                }
            }
        };
        match ended {
            Ended::Stop => return,
            Ended::Lost(why) => health.set_subscribed(false, Some(&why)),
        }
    }
}

fn dispatch(routes: &RwLock<Routes>, msg: &redis::Msg) {
    let channel = msg.get_channel_name();
    let sink = {
        let r = routes.read().unwrap_or_else(|e| e.into_inner());
        if msg.from_pattern() {
            msg.get_pattern::<String>()
                .ok()
                .and_then(|p| r.patterns.get(&p).cloned())
        } else {
            r.channels.get(channel).cloned()
        }
    };
    match sink.and_then(|s| s.upgrade()) {
        Some(sink) => sink.on_message(channel, Bytes::copy_from_slice(msg.get_payload_bytes())),
        None => tracing::trace!(
            channel,
            "redis adapter: message on a channel nobody listens to"
        ),
    }
}
