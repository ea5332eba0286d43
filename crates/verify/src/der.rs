//! A minimal, strict DER reader.
//!
//! Certificates are parsed with `x509-parser`; this reader serves the places where we want
//! control over cost and memory: CRLs (which may list a million serials) and RSA-PSS parameters.
//! It never allocates, never panics, and rejects indefinite or non-minimal lengths.

/// Universal tags used by the crate.
pub(crate) mod tag {
    pub const BOOLEAN: u8 = 0x01;
    pub const INTEGER: u8 = 0x02;
    pub const BIT_STRING: u8 = 0x03;
    pub const OCTET_STRING: u8 = 0x04;
    pub const NULL: u8 = 0x05;
    pub const OID: u8 = 0x06;
    pub const ENUMERATED: u8 = 0x0a;
    pub const UTC_TIME: u8 = 0x17;
    pub const GENERALIZED_TIME: u8 = 0x18;
    pub const SEQUENCE: u8 = 0x30;
}

/// A DER decoding failure (the message says what was expected).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DerError(pub &'static str);

/// A cursor over DER bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `data`.
    pub fn new(data: &'a [u8]) -> Self {
        Reader { data, pos: 0 }
    }

    /// True when every byte has been consumed.
    pub fn at_end(&self) -> bool {
        self.pos >= self.data.len()
    }

    /// The tag of the next element, if any.
    pub fn peek_tag(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    /// Reads one element: its tag, its content and the whole encoding (tag, length, content).
    pub fn read_any(&mut self) -> Result<(u8, &'a [u8], &'a [u8]), DerError> {
        let start = self.pos;
        let tag = *self
            .data
            .get(self.pos)
            .ok_or(DerError("unexpected end of data"))?;
        if tag & 0x1f == 0x1f {
            return Err(DerError("multi-byte tags are not supported"));
        }
        let first = *self
            .data
            .get(self.pos + 1)
            .ok_or(DerError("unexpected end of data"))?;
        let mut pos = self.pos + 2;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 {
                return Err(DerError("indefinite length is not DER"));
            }
            if n > 4 {
                return Err(DerError("length too large"));
            }
            let bytes = self
                .data
                .get(pos..pos + n)
                .ok_or(DerError("unexpected end of data"))?;
            if bytes[0] == 0 {
                return Err(DerError("non-minimal length"));
            }
            let mut len = 0usize;
            for b in bytes {
                len = (len << 8) | usize::from(*b);
            }
            if len < 0x80 {
                return Err(DerError("non-minimal length"));
            }
            pos += n;
            len
        };
        let end = pos.checked_add(len).ok_or(DerError("length overflow"))?;
        let content = self
            .data
            .get(pos..end)
            .ok_or(DerError("length exceeds the data"))?;
        let whole = &self.data[start..end];
        self.pos = end;
        Ok((tag, content, whole))
    }

    /// Reads an element that must have tag `want`, returning its content.
    pub fn read(&mut self, want: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        match self.read_any()? {
            (t, content, _) if t == want => Ok(content),
            _ => Err(DerError(what)),
        }
    }

    /// Reads an element with tag `want` if the next element has that tag.
    pub fn read_optional(&mut self, want: u8) -> Result<Option<&'a [u8]>, DerError> {
        if self.peek_tag() == Some(want) {
            Ok(Some(self.read_any()?.1))
        } else {
            Ok(None)
        }
    }

    /// Reads an element with tag `want` and returns its full encoding.
    pub fn read_whole(&mut self, want: u8, what: &'static str) -> Result<&'a [u8], DerError> {
        match self.read_any()? {
            (t, _, whole) if t == want => Ok(whole),
            _ => Err(DerError(what)),
        }
    }

    /// Fails unless every byte was consumed.
    pub fn finish(&self, what: &'static str) -> Result<(), DerError> {
        if self.at_end() {
            Ok(())
        } else {
            Err(DerError(what))
        }
    }
}

/// Parses a DER UTCTime or GeneralizedTime (`Z` form, whole seconds) to Unix seconds.
pub(crate) fn parse_time(tag: u8, content: &[u8]) -> Result<i64, DerError> {
    const BAD: DerError = DerError("invalid time");
    let digits = |s: &[u8]| -> Result<u32, DerError> {
        let mut v = 0u32;
        for &c in s {
            if !c.is_ascii_digit() {
                return Err(BAD);
            }
            v = v * 10 + u32::from(c - b'0');
        }
        Ok(v)
    };
    let (year, rest) = match (tag, content.len()) {
        (tag::UTC_TIME, 13) => {
            let yy = digits(&content[0..2])?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &content[2..])
        }
        (tag::GENERALIZED_TIME, 15) => (digits(&content[0..4])?, &content[4..]),
        _ => return Err(BAD),
    };
    if rest.get(10) != Some(&b'Z') {
        return Err(BAD);
    }
    let month = time::Month::try_from(u8::try_from(digits(&rest[0..2])?).map_err(|_| BAD)?)
        .map_err(|_| BAD)?;
    let field = |r: std::ops::Range<usize>| -> Result<u8, DerError> {
        u8::try_from(digits(&rest[r])?).map_err(|_| BAD)
    };
    let date =
        time::Date::from_calendar_date(i32::try_from(year).map_err(|_| BAD)?, month, field(2..4)?)
            .map_err(|_| BAD)?;
    let t = time::Time::from_hms(field(4..6)?, field(6..8)?, field(8..10)?).map_err(|_| BAD)?;
    Ok(time::PrimitiveDateTime::new(date, t)
        .assume_utc()
        .unix_timestamp())
}

/// Strips the leading zero bytes of an INTEGER's content (serial numbers compare by value).
pub(crate) fn trim_integer(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[start..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths() {
        let mut r = Reader::new(&[0x30, 0x03, 0x02, 0x01, 0x05]);
        let (t, c, w) = r.read_any().unwrap();
        assert_eq!((t, c.len(), w.len()), (0x30, 3, 5));
        assert!(r.at_end());
        assert!(Reader::new(&[0x30, 0x81, 0x01, 0x00]).read_any().is_err());
        assert!(Reader::new(&[0x30, 0x80]).read_any().is_err());
        assert!(
            Reader::new(&[0x30, 0x84, 0xff, 0xff, 0xff, 0xff])
                .read_any()
                .is_err()
        );
        assert!(Reader::new(&[0x30]).read_any().is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time(tag::UTC_TIME, b"700101000000Z"), Ok(0));
        assert_eq!(
            parse_time(tag::GENERALIZED_TIME, b"20240401000000Z"),
            Ok(1_711_929_600)
        );
        assert_eq!(
            parse_time(tag::UTC_TIME, b"491231235959Z"),
            Ok(2_524_607_999)
        );
        assert!(parse_time(tag::UTC_TIME, b"700101000000+0100").is_err());
        assert!(parse_time(tag::UTC_TIME, b"701301000000Z").is_err());
        assert!(parse_time(tag::GENERALIZED_TIME, b"2024040100000Z").is_err());
    }
}
