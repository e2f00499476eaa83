//! Plain aligned text tables for `--output table`.

use super::terminal;

/// Render rows under a header, columns padded to the widest cell. Every cell
/// is escaped ([`terminal::escape`]), so a value can neither break the
/// alignment nor start a forged row.
pub fn render(header: &[&str], rows: &[Vec<String>]) -> String {
    let rows: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .map(|cell| terminal::escape(cell).into_owned())
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (i, cell) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(cell.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                let pad = widths[i] - c.chars().count();
                out.push_str(c);
                out.push_str(&" ".repeat(pad + 2));
            }
        }
        out.trim_end().to_owned()
    };
    let mut out = line(header.to_vec());
    out.push('\n');
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns() {
        let t = super::render(&["A", "BB"], &[vec!["xxx".into(), "y".into()]]);
        assert_eq!(t, "A    BB\nxxx  y\n");
    }

    #[test]
    fn a_value_cannot_forge_a_row_or_drive_the_terminal() {
        let t = super::render(
            &["AUTHOR", "OP"],
            &[vec!["eve\n\u{1b}[2Jceo".into(), "delete\u{202e}".into()]],
        );
        assert_eq!(t.lines().count(), 2, "{t}");
        assert!(!t.chars().any(|c| c != '\n' && c.is_control()), "{t}");
        assert!(t.contains("eve\\u000a\\u001b[2Jceo"), "{t}");
    }
}
