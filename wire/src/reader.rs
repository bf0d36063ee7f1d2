//! A bounds-checked cursor over received bytes.

/// A cursor over received bytes; every read is bounds-checked.
pub(crate) struct Reader<'a> {
    pub(crate) buf: &'a [u8],
    pub(crate) pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| format!("truncated at byte {}", self.pos))?;
        let b = &self.buf[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    pub(crate) fn u8(&mut self) -> Result<u8, String> {
        Ok(self.bytes(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64, String> {
        let first = self.u8()?;
        let extra = (1usize << (first >> 6)) - 1;
        let mut v = u64::from(first & 0x3f);
        for b in self.bytes(extra)? {
            v = (v << 8) | u64::from(*b);
        }
        Ok(v)
    }

    pub(crate) fn varint_len(&mut self) -> Result<usize, String> {
        usize::try_from(self.varint()?).map_err(|_| "length out of range".to_string())
    }

    pub(crate) fn cid(&mut self) -> Result<&'a [u8], String> {
        let n = self.u8()? as usize;
        if n > 20 {
            return Err(format!("connection ID of {n} bytes"));
        }
        self.bytes(n)
    }

    pub(crate) fn rest(&self) -> &'a [u8] {
        &self.buf[self.pos..]
    }
}
