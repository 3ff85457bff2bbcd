//! `fusevol smb …` as a user runs it: outputs, exit codes and coreutils-style messages.
use crate::samba::Samba;
use crate::smb_client::pattern;
use std::process::{Command, Output};

fn fusevol(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fusevol"))
        .args(args)
        .env_remove("USER")
        .env_remove("PASSWD")
        .env_remove("PASSWD_FILE")
        .output()
        .expect("run fusevol")
}

fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}, stderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn err(o: &Output, code: i32) -> String {
    assert_eq!(
        o.status.code(),
        Some(code),
        "stdout: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn cli_file_commands() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let root = s.share_dir("share");
    let opts = format!(
        "port={},credentials={},vers=3.1.1",
        s.port,
        s.creds_file.display()
    );
    let u = |p: &str| format!("//127.0.0.1/share/{p}");
    let tmp = s.state_dir.join("cli-local");
    std::fs::create_dir_all(&tmp).unwrap();

    let data = pattern(20 << 20, 5);
    let local = tmp.join("up.bin");
    std::fs::write(&local, &data).unwrap();
    ok(&fusevol(&[
        "smb",
        "put",
        local.to_str().unwrap(),
        &u("up.bin"),
        "-o",
        &opts,
    ]));
    assert!(std::fs::read(root.join("up.bin")).unwrap() == data);

    let down = tmp.join("down.bin");
    ok(&fusevol(&[
        "smb",
        "get",
        &u("up.bin"),
        down.to_str().unwrap(),
        "-o",
        &opts,
    ]));
    assert!(std::fs::read(&down).unwrap() == data);

    std::fs::write(root.join("hello.txt"), b"hello from samba\n").unwrap();
    s.chown_to_user(&root.join("hello.txt"));
    assert_eq!(
        ok(&fusevol(&["smb", "cat", &u("hello.txt"), "-o", &opts])),
        "hello from samba\n"
    );

    ok(&fusevol(&["smb", "mkdir", &u("dir"), "-o", &opts]));
    assert!(root.join("dir").is_dir());
    ok(&fusevol(&[
        "smb",
        "mv",
        &u("hello.txt"),
        "dir/hi.txt",
        "-o",
        &opts,
    ]));
    assert!(root.join("dir/hi.txt").exists());
    let ls = ok(&fusevol(&["smb", "ls", &u(""), "-o", &opts]));
    assert_eq!(ls, "dir\nup.bin\n");
    let ls = ok(&fusevol(&["smb", "ls", "-l", &u("dir"), "-o", &opts]));
    assert!(
        ls.starts_with("- ") && ls.contains(" 17 ") && ls.ends_with("hi.txt\n"),
        "{ls}"
    );
    let st = ok(&fusevol(&["smb", "stat", &u("up.bin"), "-o", &opts]));
    assert!(st.contains(&format!("Size: {}", 20 << 20)), "{st}");

    let e = err(&fusevol(&["smb", "rmdir", &u("dir"), "-o", &opts]), 1);
    assert_eq!(
        e.trim(),
        "fusevol: cannot remove directory '//127.0.0.1/share/dir': directory not empty \
         (STATUS_DIRECTORY_NOT_EMPTY)"
    );
    ok(&fusevol(&["smb", "rm", &u("dir/hi.txt"), "-o", &opts]));
    ok(&fusevol(&["smb", "rmdir", &u("dir"), "-o", &opts]));
    assert!(!root.join("dir").exists());

    let e = err(&fusevol(&["smb", "cat", &u("missing.txt"), "-o", &opts]), 1);
    assert_eq!(
        e.trim(),
        "fusevol: cannot open '//127.0.0.1/share/missing.txt': no such file \
         (STATUS_OBJECT_NAME_NOT_FOUND)"
    );
}

#[test]
fn cli_bad_input_messages() {
    let Some(s) = Samba::start("default") else {
        return;
    };
    let base = format!("port={},vers=3.1.1", s.port);
    let share = "//127.0.0.1/share/";

    let pwfile = s.state_dir.join("wrongcreds");
    std::fs::write(
        &pwfile,
        format!("username={}\npassword=not-the-password\n", s.user),
    )
    .unwrap();
    let e = err(
        &fusevol(&[
            "smb",
            "ls",
            share,
            "-o",
            &format!("{base},cred={}", pwfile.display()),
        ]),
        1,
    );
    assert!(
        e.contains(&format!(
            "cannot log on to 127.0.0.1:{} as '{}'",
            s.port, s.user
        )) && e.contains("STATUS_LOGON_FAILURE"),
        "{e}"
    );
    assert!(!e.contains("not-the-password"));

    let creds = format!("{base},credentials={}", s.creds_file.display());
    let e = err(
        &fusevol(&["smb", "ls", "//127.0.0.1/nosuch", "-o", &creds]),
        1,
    );
    assert!(
        e.contains(
            "cannot connect to share '//127.0.0.1/nosuch': no such share (STATUS_BAD_NETWORK_NAME)"
        ),
        "{e}"
    );

    let e = err(
        &fusevol(&["smb", "ls", share, "-o", &format!("{creds},frob=1")]),
        2,
    );
    assert_eq!(e.trim(), "fusevol: unknown option 'frob'");
    let e = err(
        &fusevol(&["smb", "ls", share, "-o", &format!("{creds},vers=1.0")]),
        2,
    );
    assert!(e.contains("SMB1 (CIFS 1.0) is not supported"), "{e}");
    let e = err(
        &fusevol(&["smb", "ls", share, "-o", &format!("{creds},sec=krb5")]),
        2,
    );
    assert!(e.contains("Kerberos is not supported yet"), "{e}");

    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dead = l.local_addr().unwrap().port();
    drop(l);
    let e = err(
        &fusevol(&[
            "smb",
            "ls",
            share,
            "-o",
            &format!("port={dead},credentials={}", s.creds_file.display()),
        ]),
        1,
    );
    assert!(
        e.contains(&format!("cannot connect to 127.0.0.1:{dead}")) && e.contains("refused"),
        "{e}"
    );

    // No password anywhere and no terminal: a clear message, not a hang.
    let e = err(
        &fusevol(&["smb", "ls", share, "-o", &format!("{base},user=x")]),
        2,
    );
    assert!(e.contains("no password given"), "{e}");
}
