//! Volumes exported over iSCSI (`target_helper = "tgtadm"`): the cloud runs its own
//! tgtd on 127.0.0.1 (own portal and management channel), a volume attached to a
//! running QEMU guest (TCG here) is opened by QEMU's own initiator (libiscsi) with
//! CHAP, the guest reads what the host wrote and writes what the host then reads;
//! after kill -9 of onestack the same tgtd is adopted, after a simulated host reboot
//! (onestack, the guest and tgtd all killed) the targets are rebuilt from the
//! database and the restarted guest sees its disk and data again; detach removes
//! the target; the CHAP secret never reaches a log. Skips loudly without QEMU, its
//! iSCSI block module (Debian `qemu-block-extra`), tgt, or the test image.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::guest::{
    Guest, boot_guest, create_volume, req, wait_console, wait_server, wait_volume,
};
use common::{Server, json_of};
use reqwest::Method;
use serde_json::json;

/// Prints each new virtio data disk's first bytes on the serial console (read
/// through the guest's disk, so over iSCSI), then writes a marker at its start.
const WATCHER: &str = r#"#!/bin/sh
(
prev=""
while :; do
    cur=$(ls /sys/block | grep '^vd' | grep -v '^vda$' | tr '\n' ' ')
    if [ "$cur" != "$prev" ]; then
        for d in $cur; do
            case " $prev " in *" $d "*) ;; *)
                data=$(head -c 24 /dev/$d | tr -c 'a-z0-9 -' '.')
                echo "disk-data $d [$data]" > /dev/ttyS0
                printf 'onestack-volume-data %s\n' "$d" > /dev/$d
                sync
                echo "disk-seen $d" > /dev/ttyS0
            ;; esac
        done
        for d in $prev; do
            case " $cur " in *" $d "*) ;; *) echo "disk-gone $d" > /dev/ttyS0 ;; esac
        done
        prev="$cur"
    fi
    sleep 0.1
done
) </dev/null >/dev/null 2>&1 &
"#;

const GUEST: Guest<'static> = Guest {
    name: "iscsi-guest",
    user_data: WATCHER,
    active_within: Duration::from_secs(120),
    ready_within: Duration::from_secs(180),
};

/// Why this test cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    for tool in ["tgtd", "tgtadm"] {
        if Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .map(|o| !o.status.success())
            .unwrap_or(true)
        {
            return Some(format!("{tool} is not installed (apt-get install tgt)"));
        }
    }
    let help = Command::new("qemu-img")
        .arg("--help")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    if !help.contains(" iscsi") {
        return Some(
            "QEMU has no iSCSI block driver (install qemu-block-extra matching QEMU)".into(),
        );
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A tgtd management channel number no tgtd uses now (tgtd takes up to 32767).
fn free_control_port() -> u16 {
    loop {
        let n = 20000 + (rand_u16() % 12000);
        if !Path::new(&format!("/var/run/tgtd/socket.{n}")).exists() {
            return n;
        }
    }
}

fn rand_u16() -> u16 {
    let b = uuid::Uuid::new_v4();
    u16::from_le_bytes([b.as_bytes()[0], b.as_bytes()[1]])
}

fn tgt_show(control: u16) -> String {
    let out = Command::new("tgtadm")
        .args(["--control-port", &control.to_string()])
        .args(["--lld", "iscsi", "--mode", "target", "--op", "show"])
        .output()
        .expect("tgtadm");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tgtd_pid(s: &Server) -> Option<i32> {
    std::fs::read_to_string(s.state_dir().join("tgt/tgtd.pid"))
        .ok()
        .and_then(|p| p.trim().parse().ok())
        .filter(|p| common::process_alive(*p))
}

fn volume_file(s: &Server, vol: &str) -> std::path::PathBuf {
    s.state_dir().join("volumes").join(format!("volume-{vol}"))
}

fn file_starts_with(path: &Path, want: &[u8]) -> bool {
    let mut buf = vec![0u8; want.len()];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
        && buf == want
}

#[test]
fn iscsi_volume_survives_kill9_and_reboot_with_chap() {
    let Some(image) = common::guest_image() else {
        return;
    };
    if let Some(why) = missing_tools() {
        eprintln!("SKIP: iSCSI volume test: {why}");
        return;
    }
    let portal = free_port();
    let control = free_control_port();
    let profile = common::compute_profile(Some(&image))
        .replace("target_helper = \"none\"", "target_helper = \"tgtadm\"")
        .replace(
            "iscsi_portal = \"127.0.0.1:3260\"",
            &format!("iscsi_portal = \"127.0.0.1:{portal}\""),
        )
        .replace(
            "tgt_control_port = 0",
            &format!("tgt_control_port = {control}"),
        )
        .replace("tgt_managed = false", "tgt_managed = true");
    assert!(
        profile.contains("tgtadm"),
        "the default profile has a [volume] section"
    );
    let mut s = Server::start_with_profile(Some(&profile));
    let tgtd = tgtd_pid(&s).unwrap_or_else(|| {
        panic!(
            "the cloud started no tgtd: {}\n--- tgtd.log:\n{}",
            s.log(),
            std::fs::read_to_string(s.state_dir().join("tgt/tgtd.log")).unwrap_or_default()
        )
    });
    let token = s.demo();
    let project = json_of(s.validate(&token, &token))["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned();
    let server = boot_guest(&s, &token, &GUEST);
    let vol = create_volume(&s, &token, &project, "iscsi-data");
    // The host writes first: the guest must read this through iSCSI.
    {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .open(volume_file(&s, &vol))
            .expect("volume file");
        f.seek(SeekFrom::Start(0)).expect("seek");
        f.write_all(b"seeded-by-the-host-0042\n").expect("seed");
        f.sync_all().expect("sync");
    }
    assert!(
        !tgt_show(control).contains(&vol),
        "no target before the attach"
    );

    let atts = format!("/compute/v2.1/servers/{server}/os-volume_attachments");
    let started = Instant::now();
    let r = req(
        &s,
        &token,
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": vol}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    wait_console(
        &s,
        &token,
        &server,
        "disk-data vdb [seeded-by-the-host-0042.]",
        1,
        Duration::from_secs(90),
    );
    eprintln!(
        "iSCSI attach-to-visible-in-guest: {:.2} s (QEMU TCG)",
        started.elapsed().as_secs_f64()
    );
    wait_console(
        &s,
        &token,
        &server,
        "disk-seen vdb",
        1,
        Duration::from_secs(30),
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !file_starts_with(&volume_file(&s, &vol), b"onestack-volume-data vdb") {
        assert!(
            Instant::now() < deadline,
            "the guest's write never reached the volume through tgt"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // tgtd has the target with CHAP, and QEMU is logged in to it.
    let show = tgt_show(control);
    let target_line = show
        .lines()
        .find(|l| l.starts_with("Target ") && l.ends_with(&format!(":volume-{vol}")))
        .unwrap_or_else(|| panic!("no target for {vol}:\n{show}"));
    assert!(
        target_line.contains("iqn.2010-10.org.openstack:os-"),
        "{target_line}"
    );
    assert!(show.contains("Initiator: "), "QEMU is logged in:\n{show}");
    assert!(show.contains("Backing store path: ") && show.contains(&vol));
    assert!(show.contains("Account information:\n        os-"), "{show}");
    wait_volume(&s, &token, &project, &vol, "in-use");

    // The Cinder attachments API hands out os-brick's iscsi connection info.
    let vol2 = create_volume(&s, &token, &project, "iscsi-api");
    let r = req(
        &s,
        &token,
        Method::POST,
        &format!("/volume/v3/{project}/attachments"),
        Some(json!({"attachment": {
            "volume_uuid": vol2,
            "instance_uuid": uuid::Uuid::new_v4().to_string(),
            "connector": {"host": "h", "initiator": "iqn.1993-08.org.debian:01:test"},
        }})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let a = json_of(r)["attachment"].clone();
    let info = &a["connection_info"];
    assert_eq!(info["driver_volume_type"], "iscsi", "{a}");
    assert_eq!(info["data"]["target_portal"], format!("127.0.0.1:{portal}"));
    assert_eq!(info["data"]["target_lun"], 1);
    assert_eq!(info["data"]["auth_method"], "CHAP");
    let secret = info["data"]["auth_password"]
        .as_str()
        .expect("CHAP secret")
        .to_owned();
    assert!(secret.len() >= 12);
    // The LUN answers only with that secret: QEMU's initiator logs in with it.
    let iqn = info["data"]["target_iqn"].as_str().expect("iqn").to_owned();
    let user = info["data"]["auth_username"]
        .as_str()
        .expect("user")
        .to_owned();
    let probe = |password: &str| {
        Command::new("qemu-img")
            .args(["info", "--object", &format!("secret,id=s0,data={password}")])
            .args([
                "--image-opts",
                &format!(
                    "driver=raw,file.driver=iscsi,file.transport=tcp,file.portal=127.0.0.1:{portal},\
                     file.target={iqn},file.lun=1,file.user={user},file.password-secret=s0"
                ),
            ])
            .output()
            .expect("qemu-img")
    };
    let ok = probe(&secret);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = probe("wrong-secret-000");
    assert!(!bad.status.success(), "a wrong CHAP secret is refused");
    let aid = a["id"].as_str().expect("id").to_owned();
    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("/volume/v3/{project}/attachments/{aid}"),
        None,
    );
    assert_eq!(r.status(), 200);
    assert!(
        !tgt_show(control).contains(&format!("volume-{vol2}")),
        "the last attachment's delete removes the target"
    );

    // kill -9 of onestack alone: the same tgtd is adopted, the target stays.
    s.kill9();
    s.launch();
    assert_eq!(tgtd_pid(&s), Some(tgtd), "the running tgtd is adopted");
    assert!(tgt_show(control).contains(&format!("volume-{vol}")));
    let token = s.demo();

    // A host reboot: onestack, the guest and tgtd all gone. At start the target
    // is rebuilt from the database and the restarted guest sees its data again.
    s.kill9();
    common::kill_vmms(s.state_dir());
    common::kill_tgtd(s.state_dir());
    assert!(!common::process_alive(tgtd));
    s.launch();
    let again = tgtd_pid(&s).expect("tgtd started again");
    assert_ne!(again, tgtd);
    assert!(tgt_show(control).contains(&format!("volume-{vol}")));
    assert!(!tgt_show(control).contains(&format!("volume-{vol2}")));
    wait_server(&s, &token, &server, "ACTIVE", GUEST.active_within);
    wait_console(
        &s,
        &token,
        &server,
        "onestack-guest ready",
        2,
        Duration::from_secs(180),
    );
    wait_console(
        &s,
        &token,
        &server,
        "disk-data vdb [onestack-volume-data vdb]",
        1,
        Duration::from_secs(90),
    );
    wait_volume(&s, &token, &project, &vol, "in-use");

    // Detach: the guest loses the disk, the target goes, the data stays.
    let r = req(&s, &token, Method::DELETE, &format!("{atts}/{vol}"), None);
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    wait_console(
        &s,
        &token,
        &server,
        "disk-gone vdb",
        1,
        Duration::from_secs(90),
    );
    wait_volume(&s, &token, &project, &vol, "available");
    let deadline = Instant::now() + Duration::from_secs(20);
    while tgt_show(control).contains(&format!("volume-{vol}")) {
        assert!(Instant::now() < deadline, "the target outlived the detach");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(file_starts_with(
        &volume_file(&s, &vol),
        b"onestack-volume-data vdb"
    ));

    // The CHAP secret is in no log: not onestack's, not tgtd's, not QEMU's.
    let mut logs = vec![
        s.log(),
        std::fs::read_to_string(s.state_dir().join("tgt/tgtd.log")).unwrap_or_default(),
    ];
    if let Ok(dirs) = std::fs::read_dir(s.state_dir().join("instances")) {
        for d in dirs.flatten() {
            logs.push(std::fs::read_to_string(d.path().join("qemu.log")).unwrap_or_default());
            logs.push(std::fs::read_to_string(d.path().join("console.log")).unwrap_or_default());
        }
    }
    for l in &logs {
        assert!(!l.contains(&secret), "a CHAP secret reached a log");
    }
    // Nor is a secret file left in the instance's directory.
    let leftovers = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "find {} -name '*.secret'",
            s.state_dir().join("instances").display()
        ))
        .output()
        .expect("find");
    assert!(leftovers.stdout.is_empty(), "secret files left behind");
}
