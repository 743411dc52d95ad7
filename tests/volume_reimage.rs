//! A volume-backed server rebuilt at compute 2.93 (its root volume reimaged
//! through block storage's `os-reimage`, 3.68) and assisted volume snapshots
//! (`os-assisted-volume-snapshots`: a qcow2 overlay under a running guest, then
//! committed back), with a real QEMU guest (TCG here). The guest's user_data
//! writes a mark 64 MiB into its root volume, past the image's data, unless the
//! mark is already there, and says which on the console: a reimaged volume
//! shows `mark-written` again, a rebuild without reimage `mark-found`. It also
//! writes a counter into its data disk every 200 ms, which shows where its
//! writes land. Skips loudly without QEMU or the image.

mod common;

use std::time::{Duration, Instant};

use common::guest::{console, create_volume, req, volume, wait_console, wait_server, wait_volume};
use common::{Server, json_of};
use reqwest::Method;
use reqwest::blocking::Response;
use serde_json::{Value, json};

const MARKER: &str = r#"#!/bin/sh
m=$(dd if=/dev/vda bs=1M skip=64 count=1 2>/dev/null | head -c 13)
if [ "$m" = "onestack-mark" ]; then
    echo "mark-found" > /dev/ttyS0
else
    printf onestack-mark | dd of=/dev/vda bs=1M seek=64 conv=notrunc 2>/dev/null
    sync
    echo "mark-written" > /dev/ttyS0
fi
(
n=0
while :; do
    if [ -b /dev/vdb ]; then
        n=$((n+1))
        printf 'tick-%08d' "$n" | dd of=/dev/vdb conv=notrunc,fsync 2>/dev/null
    fi
    sleep 0.2
done
) </dev/null >/dev/null 2>&1 &
"#;

/// A request at an explicit microversion of the path's service.
fn reqv(
    s: &Server,
    token: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
    v: &str,
) -> Response {
    let service = if path.starts_with("/volume") {
        "volume"
    } else {
        "compute"
    };
    let mut r = s
        .client
        .request(method, format!("{}{path}", s.base))
        .header("X-Auth-Token", token)
        .header("OpenStack-API-Version", format!("{service} {v}"));
    if let Some(b) = body {
        r = r.json(&b);
    }
    r.send().expect("request")
}

fn project_of(s: &Server, token: &str) -> String {
    json_of(s.validate(token, token))["token"]["project"]["id"]
        .as_str()
        .expect("project")
        .to_owned()
}

fn image_id(s: &Server, token: &str, name: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let images = json_of(req(
            s,
            token,
            Method::GET,
            &format!("/image/v2/images?name={name}"),
            None,
        ));
        if images["images"][0]["status"] == "active" {
            return images["images"][0]["id"].as_str().expect("id").to_owned();
        }
        assert!(Instant::now() < deadline, "image never active: {images}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A second active image with the test guest's data (`min_disk` as given).
fn upload_image(s: &Server, token: &str, name: &str, data: &[u8], min_disk: u64) -> String {
    let r = req(
        s,
        token,
        Method::POST,
        "/image/v2/images",
        Some(
            json!({"name": name, "disk_format": "qcow2", "container_format": "bare", "min_disk": min_disk}),
        ),
    );
    assert_eq!(r.status(), 201, "{}", r.text().unwrap_or_default());
    let id = json_of(r)["id"].as_str().expect("id").to_owned();
    let r = s
        .client
        .put(format!("{}/image/v2/images/{id}/file", s.base))
        .header("X-Auth-Token", token)
        .header("Content-Type", "application/octet-stream")
        .body(data.to_vec())
        .send()
        .expect("upload");
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    image_id(s, token, name)
}

fn read_at(path: &std::path::Path, offset: u64, len: usize) -> Vec<u8> {
    use std::io::{Read, Seek, SeekFrom};
    let mut buf = vec![0u8; len];
    let mut f = std::fs::File::open(path).expect("open");
    f.seek(SeekFrom::Start(offset)).expect("seek");
    let _ = f.read(&mut buf).expect("read");
    buf
}

fn rebuild(s: &Server, token: &str, server: &str, image: &str, v: &str) -> Response {
    reqv(
        s,
        token,
        Method::POST,
        &format!("/compute/v2.1/servers/{server}/action"),
        Some(json!({"rebuild": {"imageRef": image, "name": "rebuilt"}})),
        v,
    )
}

#[test]
fn volume_backed_rebuild_reimages_and_assisted_snapshots_overlay_the_volume() {
    let Some(image) = common::guest_image() else {
        return;
    };
    let data = std::fs::read(&image).expect("image");
    let mut s = Server::start_with_profile(Some(&common::compute_profile(Some(&image))));
    let token = s.demo();
    let admin = s.admin();
    let project = project_of(&s, &token);
    let cirros = image_id(&s, &token, "cirros");
    let alt = upload_image(&s, &token, "alt", &data, 0);
    let big = upload_image(&s, &token, "big", &data, 5);

    // A volume-backed guest: its root volume made from the image.
    let r = reqv(
        &s,
        &token,
        Method::POST,
        "/compute/v2.1/servers",
        Some(json!({"server": {
            "name": "bfv", "flavorRef": "42", "networks": "none", "config_drive": true,
            "user_data": base64::Engine::encode(&base64::engine::general_purpose::STANDARD, MARKER),
            "block_device_mapping_v2": [{"boot_index": 0, "uuid": cirros, "source_type": "image",
                "destination_type": "volume", "volume_size": 1, "delete_on_termination": true}],
        }})),
        "2.93",
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let server = json_of(r)["server"]["id"].as_str().expect("id").to_owned();
    wait_server(&s, &token, &server, "ACTIVE", Duration::from_secs(120));
    wait_console(
        &s,
        &token,
        &server,
        "mark-written",
        1,
        Duration::from_secs(120),
    );
    let srv = json_of(req(
        &s,
        &token,
        Method::GET,
        &format!("/compute/v2.1/servers/{server}"),
        None,
    ));
    let root = srv["server"]["os-extended-volumes:volumes_attached"][0]["id"]
        .as_str()
        .expect("root volume")
        .to_owned();
    let root_file = s.state_dir().join("volumes").join(format!("volume-{root}"));
    assert_eq!(read_at(&root_file, 64 << 20, 13), b"onestack-mark");

    // Below 2.93: another image is refused (Nova's ImageUnacceptable); the
    // volume's own image restarts the guest on the same data.
    let r = rebuild(&s, &token, &server, &alt, "2.92");
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    assert!(
        r.text()
            .unwrap_or_default()
            .contains("Unable to rebuild with a different image for a volume-backed server")
    );
    let r = rebuild(&s, &token, &server, &cirros, "2.92");
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    wait_server(&s, &token, &server, "ACTIVE", Duration::from_secs(120));
    wait_console(
        &s,
        &token,
        &server,
        "mark-found",
        1,
        Duration::from_secs(120),
    );

    // Block storage's own errors: an in-use volume is not reimaged (400), nor is
    // a volume smaller than the image's min_disk; reimage_reserved is for admins
    // and the service (403).
    let act = format!("/volume/v3/{project}/volumes/{root}/action");
    let r = reqv(
        &s,
        &token,
        Method::POST,
        &act,
        Some(json!({"os-reimage": {"image_id": alt}})),
        "3.68",
    );
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    assert!(
        r.text()
            .unwrap_or_default()
            .contains("current status is in-use")
    );
    let r = reqv(
        &s,
        &token,
        Method::POST,
        &act,
        Some(json!({"os-reimage": {"image_id": alt, "reimage_reserved": true}})),
        "3.68",
    );
    assert_eq!(r.status(), 403, "{}", r.text().unwrap_or_default());
    let spare = create_volume(&s, &token, &project, "spare");
    let spare_act = format!("/volume/v3/{project}/volumes/{spare}/action");
    let r = reqv(
        &s,
        &token,
        Method::POST,
        &spare_act,
        Some(json!({"os-reimage": {"image_id": big}})),
        "3.68",
    );
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    assert!(r.text().unwrap_or_default().contains("minDisk"));
    let r = reqv(
        &s,
        &token,
        Method::POST,
        &spare_act,
        Some(json!({"os-reimage": {"image_id": alt}})),
        "3.67",
    );
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    let r = reqv(
        &s,
        &token,
        Method::POST,
        &spare_act,
        Some(json!({"os-reimage": {"image_id": alt}})),
        "3.68",
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let v = wait_volume(&s, &token, &project, &spare, "available");
    assert_eq!(v["volume_image_metadata"]["image_id"], alt.as_str(), "{v}");
    assert_eq!(v["bootable"], "true", "{v}");

    // 2.93: the root volume is reimaged with the other image; the answer shows
    // no image (a volume-backed server has none), the guest boots fresh data.
    let started = Instant::now();
    let r = rebuild(&s, &token, &server, &alt, "2.93");
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    let body = json_of(r);
    assert_eq!(body["server"]["image"], "", "{body}");
    wait_server(&s, &token, &server, "ACTIVE", Duration::from_secs(180));
    eprintln!(
        "volume-backed rebuild to ACTIVE: {:.1} s (TCG)",
        started.elapsed().as_secs_f64()
    );
    wait_console(
        &s,
        &token,
        &server,
        "mark-written",
        2,
        Duration::from_secs(120),
    );
    let v = volume(&s, &token, &project, &root);
    assert_eq!(v["status"], "in-use", "{v}");
    assert_eq!(v["volume_image_metadata"]["image_id"], alt.as_str(), "{v}");
    let srv = json_of(req(
        &s,
        &token,
        Method::GET,
        &format!("/compute/v2.1/servers/{server}"),
        None,
    ));
    assert_eq!(srv["server"]["name"], "rebuilt");
    assert_eq!(srv["server"]["image"], "");

    // kill -9 right after a rebuild is accepted: the next start settles it (the
    // reimage finished by block storage's recovery, the rebuild resumed).
    let r = rebuild(&s, &token, &server, &cirros, "2.93");
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    s.kill9();
    common::kill_vmms(s.state_dir());
    s.launch();
    let token = s.demo();
    let admin2 = s.admin();
    wait_server(&s, &token, &server, "ACTIVE", Duration::from_secs(240));
    let v = wait_volume(&s, &token, &project, &root, "in-use");
    assert_eq!(
        v["volume_image_metadata"]["image_id"],
        cirros.as_str(),
        "{v}"
    );
    wait_console(
        &s,
        &token,
        &server,
        "mark-written",
        3,
        Duration::from_secs(120),
    );
    drop(admin);
    let admin = admin2;

    // Assisted snapshots: errors first (member 403, unattached volume 400,
    // wrong type 400, no delete_info 400).
    let avs = "/compute/v2.1/os-assisted-volume-snapshots";
    let create = |vol: &str, kind: &str| {
        json!({"snapshot": {"volume_id": vol, "create_info": {
            "snapshot_id": uuid::Uuid::new_v4().to_string(), "type": kind, "new_file": "new_file"}}})
    };
    let data_vol = create_volume(&s, &token, &project, "data");
    let r = req(
        &s,
        &token,
        Method::POST,
        avs,
        Some(create(&data_vol, "qcow2")),
    );
    assert_eq!(r.status(), 403);
    let r = req(
        &s,
        &admin,
        Method::POST,
        avs,
        Some(create(&data_vol, "qcow2")),
    );
    assert_eq!(r.status(), 400, "{}", r.text().unwrap_or_default());
    assert!(
        r.text()
            .unwrap_or_default()
            .contains("No volume Block Device Mapping")
    );
    let r = req(
        &s,
        &admin,
        Method::POST,
        avs,
        Some(create(&data_vol, "raw")),
    );
    assert_eq!(r.status(), 400);
    let r = req(&s, &admin, Method::DELETE, &format!("{avs}/x"), None);
    assert_eq!(r.status(), 400);

    // Attach the data volume; the guest writes its counter there.
    let atts = format!("/compute/v2.1/servers/{server}/os-volume_attachments");
    let r = req(
        &s,
        &token,
        Method::POST,
        &atts,
        Some(json!({"volumeAttachment": {"volumeId": data_vol}})),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let data_file = s
        .state_dir()
        .join("volumes")
        .join(format!("volume-{data_vol}"));
    let ticks = |p: &std::path::Path| read_at(p, 0, 13);
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ticks(&data_file).starts_with(b"tick-") {
        assert!(
            Instant::now() < deadline,
            "the guest never wrote to its data disk"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // Create: the overlay is the guest's disk now; the volume's file stops changing.
    let r = req(
        &s,
        &admin,
        Method::POST,
        avs,
        Some(create(&data_vol, "qcow2")),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    let body = json_of(r);
    assert_eq!(body["snapshot"]["volumeId"], data_vol.as_str(), "{body}");
    assert!(body["snapshot"]["id"].is_null(), "{body}");
    let overlay = s.state_dir().join("volumes").join("new_file");
    assert!(overlay.is_file());
    std::thread::sleep(Duration::from_secs(1));
    let frozen = ticks(&data_file);
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        ticks(&data_file),
        frozen,
        "the guest still writes to the volume's file"
    );
    let r = req(
        &s,
        &admin,
        Method::POST,
        avs,
        Some(create(&data_vol, "qcow2")),
    );
    assert_eq!(
        r.status(),
        400,
        "new_file exists: {}",
        r.text().unwrap_or_default()
    );

    // Delete (tempest's form, only volume_id): the overlay is committed back
    // into the volume's file and goes; the guest writes to the file again.
    let info = urlencode(&json!({"volume_id": data_vol}).to_string());
    let r = req(
        &s,
        &admin,
        Method::DELETE,
        &format!("{avs}/None?delete_info={info}"),
        None,
    );
    assert_eq!(r.status(), 204, "{}", r.text().unwrap_or_default());
    assert!(!overlay.exists());
    let committed = ticks(&data_file);
    assert!(
        committed > frozen,
        "the overlay's writes never reached the volume"
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while ticks(&data_file) == committed {
        assert!(
            Instant::now() < deadline,
            "the guest stopped writing to the volume's file"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A second overlay, left in place: detach merges it back first.
    let r = req(
        &s,
        &admin,
        Method::POST,
        avs,
        Some(create(&data_vol, "qcow2")),
    );
    assert_eq!(r.status(), 200, "{}", r.text().unwrap_or_default());
    std::thread::sleep(Duration::from_secs(1));
    let before = ticks(&data_file);
    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("{atts}/{data_vol}"),
        None,
    );
    assert_eq!(r.status(), 202, "{}", r.text().unwrap_or_default());
    wait_volume(&s, &token, &project, &data_vol, "available");
    assert!(!overlay.exists());
    assert!(
        ticks(&data_file) > before,
        "the detach lost the overlay's writes"
    );
    let _ = console(&s, &token, &server);

    let r = req(
        &s,
        &token,
        Method::DELETE,
        &format!("/compute/v2.1/servers/{server}"),
        None,
    );
    assert_eq!(r.status(), 204);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
