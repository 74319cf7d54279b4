use super::*;

const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

fn headers_block(enc: &mut Encoder<'_>, authority: &[u8]) -> Vec<u8> {
    enc.encode([
        (&b":method"[..], &b"POST"[..]),
        (b":scheme", b"http"),
        (b":path", b"/SpiffeWorkloadAPI/FetchX509SVID"),
        (b":authority", authority),
        (b"workload.spiffe.io", b"true"),
    ])
}

/// Decodes every HEADERS block in `bytes` (after the preface).
fn decoded(bytes: &[u8]) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    let mut dec = Decoder::new();
    let mut rest = &bytes[PREFACE_LEN..];
    let mut blocks = Vec::new();
    let mut block = Vec::new();
    while rest.len() >= FRAME_HEADER_LEN {
        let len = usize::from(rest[0]) << 16 | usize::from(rest[1]) << 8 | usize::from(rest[2]);
        let (kind, flags) = (rest[3], rest[4]);
        let payload = &rest[FRAME_HEADER_LEN..FRAME_HEADER_LEN + len];
        if kind == HEADERS || kind == CONTINUATION {
            let skip = if kind == HEADERS && flags & PRIORITY != 0 {
                5
            } else {
                0
            };
            block.extend_from_slice(&payload[skip..]);
            if flags & END_HEADERS != 0 {
                blocks.push(dec.decode(&block).unwrap());
                block.clear();
            }
        }
        rest = &rest[FRAME_HEADER_LEN + len..];
    }
    blocks
}

fn authority_of(block: &[(Vec<u8>, Vec<u8>)]) -> &[u8] {
    &block.iter().find(|(n, _)| n == b":authority").unwrap().1
}

#[test]
fn socket_path_authority_becomes_localhost_even_when_fed_byte_by_byte() {
    let mut enc = Encoder::new();
    let mut input = PREFACE.to_vec();
    for _ in 0..2 {
        // the second request refers to the first through the dynamic table
        let block = headers_block(&mut enc, b"tmp%2Fx%2Fapi.sock");
        write_frame(HEADERS, END_HEADERS, &[0, 0, 0, 1], &block, &mut input);
        write_frame(0x0, END_STREAM, &[0, 0, 0, 1], b"\0\0\0\0\0", &mut input);
    }
    let mut filter = AuthorityFilter::default();
    let mut out = Vec::new();
    for b in &input {
        filter.feed(std::slice::from_ref(b), &mut out).unwrap();
    }
    let blocks = decoded(&out);
    assert_eq!(blocks.len(), 2);
    for b in &blocks {
        assert_eq!(authority_of(b), b"localhost");
        assert!(
            b.iter()
                .any(|(n, v)| n == b"workload.spiffe.io" && v == b"true")
        );
    }
    assert!(out.starts_with(PREFACE));
}

#[test]
fn padded_priority_and_continuation_frames_are_reassembled() {
    let mut enc = Encoder::new();
    let block = headers_block(&mut enc, b"%2Frun%2Fapi.sock");
    let (a, b) = block.split_at(block.len() / 2);
    let mut payload = vec![3u8]; // pad length
    payload.extend_from_slice(&[0, 0, 0, 0, 16]); // priority
    payload.extend_from_slice(a);
    payload.extend_from_slice(&[0, 0, 0]);
    let mut input = PREFACE.to_vec();
    write_frame(
        HEADERS,
        PADDED | PRIORITY | END_STREAM,
        &[0, 0, 0, 3],
        &payload,
        &mut input,
    );
    write_frame(CONTINUATION, END_HEADERS, &[0, 0, 0, 3], b, &mut input);
    let mut out = Vec::new();
    AuthorityFilter::default().feed(&input, &mut out).unwrap();
    let blocks = decoded(&out);
    assert_eq!(authority_of(&blocks[0][..]), b"localhost");
    // END_STREAM and PRIORITY survive; padding is gone.
    let flags = out[PREFACE_LEN + 4];
    assert_eq!(
        flags & (END_STREAM | PRIORITY | PADDED),
        END_STREAM | PRIORITY
    );
}

#[test]
fn other_frames_pass_through_unchanged() {
    let mut input = PREFACE.to_vec();
    write_frame(0x4, 0, &[0; 4], &[0, 3, 0, 0, 0, 100], &mut input); // SETTINGS
    write_frame(0x8, 0, &[0; 4], &[0, 1, 0, 0], &mut input); // WINDOW_UPDATE
    let mut out = Vec::new();
    AuthorityFilter::default().feed(&input, &mut out).unwrap();
    assert_eq!(out, input);
}

#[test]
fn oversized_frames_and_garbage_blocks_are_errors() {
    let mut filter = AuthorityFilter::default();
    let mut out = Vec::new();
    let mut input = PREFACE.to_vec();
    input.extend_from_slice(&[0xff, 0xff, 0xff, HEADERS, END_HEADERS, 0, 0, 0, 1]);
    assert!(matches!(
        filter.feed(&input, &mut out),
        Err(AuthorityError::FrameTooLarge(_))
    ));
    let mut input = PREFACE.to_vec();
    write_frame(
        HEADERS,
        END_HEADERS,
        &[0, 0, 0, 1],
        &[0xff, 0xff, 0xff, 0xff],
        &mut input,
    );
    assert!(AuthorityFilter::default().feed(&input, &mut out).is_err());
    let mut input = PREFACE.to_vec();
    write_frame(
        HEADERS,
        PADDED | END_HEADERS,
        &[0, 0, 0, 1],
        &[200, 1, 2],
        &mut input,
    );
    assert_eq!(
        AuthorityFilter::default().feed(&input, &mut Vec::new()),
        Err(AuthorityError::Malformed)
    );
}
