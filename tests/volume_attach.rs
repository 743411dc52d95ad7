//! Volumes hot-plugged into a real QEMU guest (TCG here) through Nova's
//! os-volume_attachments: the guest sees the new virtio disk and writes to it, the
//! data lands in the volume's file, both APIs show the attachment, the guest is
//! rebuilt with the volume after kill -9 of onestack and of its VMM (a host
//! reboot), and detach unplugs it. Also the Cinder attachments API (3.27+) and the
//! older attach actions, on the same cloud. Skips loudly without QEMU or the image.

mod common;

use std::time::{Duration, Instant};

use common::guest::{
    Guest, boot_guest, create_volume, req, volume, wait_console, wait_server, wait_volume,
};
use common::{Server, json_of};
use reqwest::Method;
use serde_json::{Value, json};

/// Prints every change of the guest's virtio disks on the serial console and
/// writes a marker at the start of each new data disk.
const WATCHER: &str = r#"#!/bin/sh
(
prev=""
while :; do
    cur=$(ls /sys/block | grep '^vd' | grep -v '^vda$' | tr '\n' ' ')
    if [ "$cur" != "$prev" ]; then
        for d in $cur; do
            case " $prev " in *" $d "*) ;; *)
                printf 'onestack-volume-data %s\n' "$d" > /dev/$d
                sync
                echo "disk-seen $d sectors=$(cat /sys/block/$d/size)" > /dev/ttyS0
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
    name: "vol-guest",
    user_data: WATCHER,
    active_within: Duration::from_secs(90),
    ready_within: Duration::from_secs(120),
};

fn project_of(s: &Server, token: &str) -> String {
    let r = s.validate(token, token);
    json_of(r)["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned()
}

fn volume_file_starts_with(s: &Server, vol: &str, want: &[u8]) -> bool {
    let path = s.state_dir().join("volumes").join(format!("volume-{vol}"));
    let mut buf = vec![0u8; want.len()];
    std::fs::File::open(&path)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut buf))
        .is_ok()
        && buf == want
}

#[test]
fn volume_hot_attach_survives_restart_and_detaches() {
    let Some(image) = common::guest_image() else {
        return;
    };
    let mut s = Server::start_with_profile(Some(&common::compute_profile(Some(&image))));
    let token = s.demo();
    let project = project_of(&s, &token);
    let server = boot_guest(&s, &token, &GUEST);
    let vol = create_volume(&s, &token, &project, "data");
    let atts = format!("/compute/v2.1/servers/{server}/os-volume_attachments");

    // Bad input: an unknown volume (404), a malformed id (400).
    let missing = uuid::Uuid::new_v4().to_string();
    let r = req(
        &s,
        &token,
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": missing}})),
    );
    assert_eq!(r.status(), 404, "{}", r.text().unwrap_or_default());
    let r = req(
        &s,
        &token,
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": "nope"}})),
    );
    assert_eq!(r.status(), 400);

    // Attach: the guest sees a new disk and writes to it.
    let started = Instant::now();
    let r = req(
        &s,
        &token,
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": vol}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let att = json_of(r)["volumeAttachment"].clone();
    assert_eq!(att["device"], "/dev/vdb", "{att}");
    assert_eq!(att["volumeId"], vol.as_str());
    assert_eq!(att["serverId"], server.as_str());
    wait_console(
        &s,
        &token,
        &server,
        "disk-seen vdb sectors=2097152",
        1,
        Duration::from_secs(60),
    );
    eprintln!(
        "attach-to-visible-in-guest: {:.2} s (TCG)",
        started.elapsed().as_secs_f64()
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while !volume_file_starts_with(&s, &vol, b"onestack-volume-data vdb") {
        assert!(
            Instant::now() < deadline,
            "the guest's write never reached the volume"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Both APIs show it.
    let v = volume(&s, &token, &project, &vol);
    assert_eq!(v["status"], "in-use", "{v}");
    assert_eq!(v["attachments"][0]["server_id"], server.as_str(), "{v}");
    assert_eq!(v["attachments"][0]["device"], "/dev/vdb", "{v}");
    let list = json_of(req(&s, &token, Method::GET, &atts, None));
    assert_eq!(
        list["volumeAttachments"].as_array().map(Vec::len),
        Some(1),
        "{list}"
    );
    let one = json_of(req(&s, &token, Method::GET, &format!("{atts}/{vol}"), None));
    assert_eq!(one["volumeAttachment"]["device"], "/dev/vdb");

    // An attached volume is neither attached again nor deleted.
    let r = req(
        &s,
        &token,
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": vol}})),
    );
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("/volume/v3/{project}/volumes/{vol}"),
        None,
    );
    assert_eq!(r.status(), 400);

    // kill -9 of onestack and of the VMM (a host reboot): the guest is rebuilt
    // with its volume, which it sees again.
    s.kill9();
    common::kill_vmms(s.state_dir());
    s.launch();
    let token = s.demo();
    wait_server(&s, &token, &server, "ACTIVE", GUEST.active_within);
    wait_console(
        &s,
        &token,
        &server,
        "onestack-guest ready",
        2,
        Duration::from_secs(120),
    );
    wait_console(
        &s,
        &token,
        &server,
        "disk-seen vdb",
        2,
        Duration::from_secs(60),
    );
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "in-use");

    // Detach: the guest loses the disk, the volume is available, data intact.
    let r = req(&s, &token, Method::DELETE, &format!("{atts}/{vol}"), None);
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    wait_console(
        &s,
        &token,
        &server,
        "disk-gone vdb",
        1,
        Duration::from_secs(60),
    );
    let v = wait_volume(&s, &token, &project, &vol, "available");
    assert_eq!(v["attachments"], json!([]), "{v}");
    assert!(volume_file_starts_with(
        &s,
        &vol,
        b"onestack-volume-data vdb"
    ));
    let r = req(&s, &token, Method::DELETE, &format!("{atts}/{vol}"), None);
    assert_eq!(r.status(), 404);

    // Attach again after the restart: hot-plug into the rebuilt guest works too.
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
        "disk-seen vdb",
        3,
        Duration::from_secs(60),
    );

    // Deleting the server releases the volume.
    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("/compute/v2.1/servers/{server}"),
        None,
    );
    assert_eq!(r.status(), 204);
    wait_volume(&s, &token, &project, &vol, "available");
}

/// The Cinder attachments API and the older actions, without a guest.
#[test]
fn cinder_attachment_flows_move_the_volume_status() {
    let s = Server::start();
    let token = s.demo();
    let project = project_of(&s, &token);
    let vol = create_volume(&s, &token, &project, "a");
    let instance = uuid::Uuid::new_v4().to_string();
    let base = format!("/volume/v3/{project}");

    // Before 3.27 there is no such resource.
    let r = s
        .client
        .get(format!("{}{base}/attachments", s.base))
        .header("X-Auth-Token", &token)
        .header("OpenStack-API-Version", "volume 3.26")
        .send()
        .expect("request");
    assert_eq!(r.status(), 404);

    let r = req(
        &s,
        &token,
        Method::POST,
        &format!("{base}/attachments"),
        Some(json!({"attachment": {"volume_uuid": vol, "instance_uuid": instance}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let a = json_of(r)["attachment"].clone();
    let aid = a["id"].as_str().expect("id").to_owned();
    assert_eq!(a["status"], "reserved");
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "reserved");
    // A second consumer cannot take a non-multiattach volume.
    let r = req(
        &s,
        &token,
        Method::POST,
        &format!("{base}/attachments"),
        Some(
            json!({"attachment": {"volume_uuid": vol, "instance_uuid": uuid::Uuid::new_v4().to_string()}}),
        ),
    );
    assert_eq!(r.status(), 400);

    let r = req(
        &s,
        &token,
        Method::PUT,
        &format!("{base}/attachments/{aid}"),
        Some(json!({"attachment": {"connector": {"host": "h", "mountpoint": "/dev/vdb"}}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let a = json_of(r)["attachment"].clone();
    assert_eq!(a["connection_info"]["driver_volume_type"], "local", "{a}");
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "attaching");
    let r = req(
        &s,
        &token,
        Method::POST,
        &format!("{base}/attachments/{aid}/action"),
        Some(json!({"os-complete": null})),
    );
    assert_eq!(r.status(), 204);
    let v = volume(&s, &token, &project, &vol);
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["attachment_id"], aid.as_str());
    assert_eq!(v["attachments"][0]["server_id"], instance.as_str());
    let list = json_of(req(
        &s,
        &token,
        Method::GET,
        &format!("{base}/attachments"),
        None,
    ));
    assert_eq!(list["attachments"][0]["status"], "attached", "{list}");
    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("{base}/attachments/{aid}"),
        None,
    );
    assert_eq!(r.status(), 200);
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "available");

    // The older actions: reserve → attaching, unreserve → available; attach,
    // begin/roll detaching, detach.
    let action = |body: Value| {
        req(
            &s,
            &token,
            Method::POST,
            &format!("{base}/volumes/{vol}/action"),
            Some(body),
        )
    };
    assert_eq!(action(json!({"os-reserve": null})).status(), 202);
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "attaching");
    assert_eq!(action(json!({"os-unreserve": null})).status(), 202);
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "available");
    let r = action(json!({"os-attach": {"instance_uuid": instance, "mountpoint": "/dev/vdc"}}));
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let v = volume(&s, &token, &project, &vol);
    assert_eq!(v["status"], "in-use");
    assert_eq!(v["attachments"][0]["device"], "/dev/vdc");
    assert_eq!(action(json!({"os-begin_detaching": null})).status(), 202);
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "detaching");
    assert_eq!(action(json!({"os-roll_detaching": null})).status(), 202);
    assert_eq!(volume(&s, &token, &project, &vol)["status"], "in-use");
    let r = action(json!({"os-initialize_connection": {"connector": {"host": "h"}}}));
    assert_eq!(r.status(), 200);
    assert_eq!(json_of(r)["connection_info"]["driver_volume_type"], "local");
    assert_eq!(action(json!({"os-detach": {}})).status(), 202);
    let v = volume(&s, &token, &project, &vol);
    assert_eq!(v["status"], "available");
    assert_eq!(v["attachments"], json!([]));
}

/// `delete_on_termination`: given at attach (2.79), changed by an attachment
/// update (2.85), shown on the attachment, and acted on when the server is
/// deleted (the flagged volume goes, the other stays available).
#[test]
fn delete_on_termination_is_kept_updated_and_acted_on() {
    let Some(image) = common::guest_image() else {
        return;
    };
    let s = Server::start_with_profile(Some(&common::compute_profile(Some(&image))));
    let token = s.demo();
    let project = project_of(&s, &token);
    let server = boot_guest(&s, &token, &GUEST);
    let keep = create_volume(&s, &token, &project, "keep");
    let go = create_volume(&s, &token, &project, "go");
    let atts = format!("/compute/v2.1/servers/{server}/os-volume_attachments");
    let at = |mv: &str, method: Method, path: &str, body: Option<Value>| {
        let mut r = s
            .client
            .request(method, format!("{}{path}", s.base))
            .header("X-Auth-Token", &token)
            .header("OpenStack-API-Version", format!("compute {mv}"));
        if let Some(b) = body {
            r = r.json(&b);
        }
        r.send().expect("request")
    };
    let r = at(
        "2.79",
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": keep, "delete_on_termination": true}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    assert_eq!(
        json_of(r)["volumeAttachment"]["delete_on_termination"],
        true
    );
    wait_volume(&s, &token, &project, &keep, "in-use");
    let r = at(
        "2.101",
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": go}})),
    );
    assert_eq!(r.status(), 202, "2.101 answers 202 without a body");
    wait_volume(&s, &token, &project, &go, "in-use");

    let put = |mv: &str, vol: &str, body: Value| {
        at(
            mv,
            Method::PUT,
            &format!("{atts}/{vol}"),
            Some(json!({ "volumeAttachment": body })),
        )
    };
    assert_eq!(
        put(
            "2.84",
            &go,
            json!({"volumeId": go, "delete_on_termination": true})
        )
        .status(),
        400
    );
    assert_eq!(
        put("2.85", &go, json!({"volumeId": go, "device": "/dev/vdz"})).status(),
        400,
        "the device is not mutable"
    );
    assert_eq!(
        put(
            "2.85",
            &go,
            json!({"volumeId": go, "delete_on_termination": true})
        )
        .status(),
        202
    );
    assert_eq!(
        put(
            "2.85",
            &keep,
            json!({"volumeId": keep, "delete_on_termination": false})
        )
        .status(),
        202
    );
    let shown = |vol: &str| {
        let r = at("2.89", Method::GET, &format!("{atts}/{vol}"), None);
        assert_eq!(r.status(), 200);
        json_of(r)["volumeAttachment"]["delete_on_termination"].clone()
    };
    assert_eq!(shown(&go), true);
    assert_eq!(shown(&keep), false);

    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("/compute/v2.1/servers/{server}"),
        None,
    );
    assert_eq!(r.status(), 204);
    wait_volume(&s, &token, &project, &keep, "available");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = req(
            &s,
            &token,
            Method::GET,
            &format!("/volume/v3/{project}/volumes/{go}"),
            None,
        );
        if r.status() == 404 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the flagged volume was not deleted"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}
