//! A small document model for reports: headings, paragraphs, lists, tables and figures, rendered
//! both as Markdown and as one self-contained HTML page (SVG figures inlined, so the page can be
//! mailed or archived alone). Used by the sweep report and meant for the demo report too.

use crate::error::Result;
use std::path::Path;
use unibit_core::atomic::write_atomic;

/// A table: a header row and rows of already formatted cells.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Table {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }
    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) -> &mut Table {
        self.rows.push(cells.into_iter().map(Into::into).collect());
        self
    }
}

/// A figure: an SVG document (inlined in HTML) and the file name Markdown links to.
#[derive(Clone, Debug, PartialEq)]
pub struct Figure {
    pub file: String,
    pub svg: String,
    pub caption: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Block {
    /// Level 2 (section) or 3 (subsection).
    Heading(u8, String),
    Paragraph(String),
    List(Vec<String>),
    Table(Table),
    Figure(Figure),
}

/// A report page. Text is plain (escaped on output), so numbers and names can't break markup.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Page {
    pub title: String,
    pub blocks: Vec<Block>,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            blocks: Vec::new(),
        }
    }
    pub fn heading(&mut self, level: u8, text: impl Into<String>) -> &mut Page {
        self.blocks
            .push(Block::Heading(level.clamp(2, 4), text.into()));
        self
    }
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Page {
        self.blocks.push(Block::Paragraph(text.into()));
        self
    }
    pub fn list<S: Into<String>>(&mut self, items: impl IntoIterator<Item = S>) -> &mut Page {
        self.blocks
            .push(Block::List(items.into_iter().map(Into::into).collect()));
        self
    }
    pub fn table(&mut self, table: Table) -> &mut Page {
        self.blocks.push(Block::Table(table));
        self
    }
    /// Add a figure from an SVG file already on disk; `file` is the name Markdown links to.
    pub fn figure_file(
        &mut self,
        svg_path: &Path,
        file: impl Into<String>,
        caption: impl Into<String>,
    ) -> Result<&mut Page> {
        let svg =
            std::fs::read_to_string(svg_path).map_err(|e| crate::error::Error::io(svg_path, e))?;
        Ok(self.figure(file, svg, caption))
    }
    pub fn figure(
        &mut self,
        file: impl Into<String>,
        svg: impl Into<String>,
        caption: impl Into<String>,
    ) -> &mut Page {
        self.blocks.push(Block::Figure(Figure {
            file: file.into(),
            svg: svg.into(),
            caption: caption.into(),
        }));
        self
    }

    pub fn to_markdown(&self) -> String {
        let mut s = format!("# {}\n", md_escape(&self.title));
        for b in &self.blocks {
            s.push('\n');
            match b {
                Block::Heading(l, t) => {
                    s.push_str(&format!("{} {}\n", "#".repeat(*l as usize), md_escape(t)))
                }
                Block::Paragraph(t) => s.push_str(&format!("{}\n", md_escape(t))),
                Block::List(items) => {
                    for i in items {
                        s.push_str(&format!("- {}\n", md_escape(i)));
                    }
                }
                Block::Table(t) => {
                    let line = |cells: &[String]| {
                        let cells: Vec<String> = cells.iter().map(|c| md_cell(c)).collect();
                        format!("| {} |\n", cells.join(" | "))
                    };
                    s.push_str(&line(&t.header));
                    s.push_str(&format!("|{}\n", " --- |".repeat(t.header.len().max(1))));
                    for r in &t.rows {
                        s.push_str(&line(r));
                    }
                }
                Block::Figure(f) => s.push_str(&format!(
                    "![{}]({})\n\n*{}*\n",
                    md_escape(&f.caption),
                    f.file,
                    md_escape(&f.caption)
                )),
            }
        }
        s
    }

    pub fn to_html(&self) -> String {
        let mut s = String::new();
        s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        s.push_str(&format!("<title>{}</title>\n", esc(&self.title)));
        s.push_str(STYLE);
        s.push_str("</head>\n<body>\n<main>\n");
        s.push_str(&format!("<h1>{}</h1>\n", esc(&self.title)));
        for b in &self.blocks {
            match b {
                Block::Heading(l, t) => s.push_str(&format!("<h{l}>{}</h{l}>\n", esc(t))),
                Block::Paragraph(t) => s.push_str(&format!("<p>{}</p>\n", esc(t))),
                Block::List(items) => {
                    s.push_str("<ul>\n");
                    for i in items {
                        s.push_str(&format!("<li>{}</li>\n", esc(i)));
                    }
                    s.push_str("</ul>\n");
                }
                Block::Table(t) => s.push_str(&html_table(t)),
                Block::Figure(f) => s.push_str(&format!(
                    "<figure>\n{}\n<figcaption>{} (<a href=\"{}\">{}</a>)</figcaption>\n</figure>\n",
                    inline_svg(&f.svg),
                    esc(&f.caption),
                    esc(&f.file),
                    esc(&f.file)
                )),
            }
        }
        s.push_str("</main>\n</body>\n</html>\n");
        s
    }

    /// Write the HTML page atomically.
    pub fn write_html(&self, path: &Path) -> Result<()> {
        Ok(write_atomic(path, self.to_html().as_bytes())?)
    }
    /// Write the Markdown atomically.
    pub fn write_markdown(&self, path: &Path) -> Result<()> {
        Ok(write_atomic(path, self.to_markdown().as_bytes())?)
    }
}

const STYLE: &str = "<style>
body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;color:#222;margin:0;background:#fafafa}
main{max-width:1100px;margin:0 auto;padding:1.5em 2em;background:#fff}
h1{font-size:1.6em;border-bottom:2px solid #ddd;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:1.8em}
table{border-collapse:collapse;margin:.8em 0;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right;white-space:nowrap}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
tbody tr:nth-child(even){background:#f8f8f8}
.scroll{overflow-x:auto}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
figcaption{font-size:.9em;color:#555}
</style>
";

/// Escape text for HTML element content and attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

/// Keep Markdown text literal where it matters for our content (emphasis, HTML, links).
fn md_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '\\' | '*' | '_' | '<' | '>' | '[' | ']' | '`') {
            o.push('\\');
        }
        o.push(c);
    }
    o
}

fn md_cell(s: &str) -> String {
    md_escape(s).replace('|', "\\|").replace('\n', " ")
}

/// An SVG document as an inline element: drop the XML prolog, keep the `<svg>` element.
fn inline_svg(svg: &str) -> &str {
    svg.find("<svg").map_or(svg, |i| &svg[i..])
}

/// A table in a horizontally scrolling box (wide tables stay readable on narrow screens).
fn html_table(t: &Table) -> String {
    let mut s = String::from("<div class=\"scroll\"><table>\n<thead><tr>");
    for h in &t.header {
        s.push_str(&format!("<th>{}</th>", esc(h)));
    }
    s.push_str("</tr></thead>\n<tbody>\n");
    for r in &t.rows {
        s.push_str("<tr>");
        for c in r {
            s.push_str(&format!("<td>{}</td>", esc(c)));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</tbody></table></div>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> Page {
        let mut p = Page::new("Demo <1>");
        let mut t = Table::new(["model", "acc"]);
        t.row(["B = 2 | w 1.5", "91.3%"]);
        p.heading(2, "Results")
            .paragraph("a & b")
            .list(["x", "y_z"])
            .table(t)
            .figure(
                "f.svg",
                "<?xml version=\"1.0\"?>\n<svg width=\"1\"></svg>",
                "Fig",
            );
        p
    }

    #[test]
    fn html_is_escaped_and_inlines_svg() {
        let h = page().to_html();
        assert!(h.contains("<title>Demo &lt;1&gt;</title>"));
        assert!(h.contains("<p>a &amp; b</p>"));
        assert!(h.contains("<td>B = 2 | w 1.5</td><td>91.3%</td>"));
        assert!(h.contains("<svg width=\"1\"></svg>"));
        assert!(!h.contains("<?xml"));
        assert!(h.contains("<a href=\"f.svg\">"));
    }

    #[test]
    fn markdown_tables_and_links() {
        let m = page().to_markdown();
        assert!(m.starts_with("# Demo \\<1\\>\n"));
        assert!(m.contains("| model | acc |\n| --- | --- |\n| B = 2 \\| w 1.5 | 91.3% |\n"));
        assert!(m.contains("- y\\_z\n"));
        assert!(m.contains("](f.svg)"));
    }

    #[test]
    fn writes_files() {
        let d = tempfile::tempdir().unwrap();
        let p = page();
        p.write_html(&d.path().join("index.html")).unwrap();
        p.write_markdown(&d.path().join("s.md")).unwrap();
        let h = std::fs::read_to_string(d.path().join("index.html")).unwrap();
        assert!(h.starts_with("<!DOCTYPE html>") && h.ends_with("</html>\n"));
        assert!(d.path().join("s.md").is_file());
    }
}
