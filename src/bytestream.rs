//! `ByteStream`: the bytes of an upload or a download as services take and give
//! them, whatever carried them (a request body, a file, memory), so that no
//! service needs the HTTP framework's body type.

use std::io;
use std::pin::Pin;

use bytes::Bytes;
use futures_util::{Stream, TryStreamExt};

/// A stream of chunks that may fail with an I/O error (a client gone mid-upload).
pub(crate) type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// No bytes at all.
pub(crate) fn empty() -> ByteStream {
    Box::pin(futures_util::stream::empty())
}

/// One buffer already in memory (manifests, listings, test data).
pub(crate) fn once(b: Bytes) -> ByteStream {
    Box::pin(futures_util::stream::once(async move { Ok(b) }))
}

/// A reader's bytes (a file from where it is positioned) to its end.
pub(crate) fn from_reader(reader: impl tokio::io::AsyncRead + Send + 'static) -> ByteStream {
    Box::pin(tokio_util::io::ReaderStream::with_capacity(
        reader,
        256 * 1024,
    ))
}

/// A request body as it arrives; a transport failure becomes the stream's I/O
/// error with the transport's own message.
pub(crate) fn from_body(body: axum::body::Body) -> ByteStream {
    Box::pin(body.into_data_stream().map_err(io::Error::other))
}
