//! Commands shown in the docs cannot rot: every `unibit …` line of every ```sh block in the
//! README and the docs must parse with the real argument parser (subcommands, flags and values).
//! `tests/cli_train.rs` and the other CLI tests run the main paths for real.

use crate::Cli;
use clap::Parser;
use std::path::{Path, PathBuf};

/// Markdown files whose `sh` blocks are checked.
fn doc_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("README.md"),
        root.join("hw/README.md"),
        root.join("sw/README.md"),
    ];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    let results = root.join("docs/results/README.md");
    if results.exists() {
        files.push(results);
    }
    files
}

/// The shell commands of a Markdown text's ```sh blocks, with line continuations joined and
/// comments removed, each with its line number.
fn sh_commands(text: &str) -> Vec<(usize, String)> {
    let mut out = vec![];
    let mut in_sh = false;
    let mut pending: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with("```") {
            in_sh = !in_sh && t == "```sh";
            continue;
        }
        if !in_sh {
            continue;
        }
        let code = match t.find(" #") {
            Some(k) => &t[..k],
            None if t.starts_with('#') => "",
            None => t,
        }
        .trim();
        let (start, mut cmd) = pending.take().unwrap_or((i + 1, String::new()));
        if let Some(head) = code.strip_suffix('\\') {
            cmd.push_str(head);
            cmd.push(' ');
            pending = Some((start, cmd));
        } else {
            cmd.push_str(code);
            if !cmd.trim().is_empty() {
                out.push((start, cmd));
            }
        }
    }
    out
}

/// The `unibit` invocations inside one shell command: the command itself, and any quoted
/// argument that is one (e.g. `sbatch --wrap "unibit sweep run …"`).
fn invocations(cmd: &str) -> Vec<Vec<String>> {
    let words = shell_words::split(cmd).unwrap_or_else(|e| panic!("`{cmd}`: {e}"));
    let mut out = vec![];
    if words.first().is_some_and(|w| w == "unibit") {
        out.push(words.clone());
    }
    for w in words.iter().skip(1) {
        if w.starts_with("unibit ") {
            out.extend(invocations(w));
        }
    }
    out
}

#[test]
fn every_unibit_command_in_the_docs_parses() {
    let mut checked = 0;
    let mut failures = vec![];
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (line, cmd) in sh_commands(&text) {
            for words in invocations(&cmd) {
                checked += 1;
                if let Err(e) = Cli::try_parse_from(&words) {
                    let training = ["train", "export", "bench-train", "sweep", "mixed"];
                    if !cfg!(feature = "train") && training.contains(&words[1].as_str()) {
                        continue;
                    }
                    failures.push(format!(
                        "{}:{line}: `{}`\n{}",
                        file.display(),
                        words.join(" "),
                        e.render()
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(
        checked >= 30,
        "only {checked} commands found: is the ```sh extraction broken?"
    );
}

#[test]
fn extraction_joins_continuations_drops_comments_and_finds_wrapped_commands() {
    let md = "text\n```sh\nunibit size --family resnet20 \\\n    --bits 2   # comment\n# only a comment\nsbatch --wrap \"unibit sweep run --plan p.json\"\n```\n```\nunibit not --checked\n```\n";
    let cmds = sh_commands(md);
    assert_eq!(cmds.len(), 2, "{cmds:?}");
    assert_eq!(cmds[0].0, 3);
    assert_eq!(
        invocations(&cmds[0].1),
        vec![vec![
            "unibit", "size", "--family", "resnet20", "--bits", "2"
        ]]
    );
    assert_eq!(
        invocations(&cmds[1].1),
        vec![vec!["unibit", "sweep", "run", "--plan", "p.json"]]
    );
    // A wrong flag is caught by the parser the test uses.
    assert!(
        Cli::try_parse_from(["unibit", "size", "--family", "resnet20", "--bitz", "2"]).is_err()
    );
}
