//! A scripted HTTP/1.1 server on loopback for unit tests: answers each
//! request with the next scripted JSON body and records the request bodies.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use serde_json::Value;

pub(crate) struct Scripted {
    pub url: String,
    pub bodies: Arc<Mutex<Vec<Value>>>,
}

pub(crate) fn serve(answers: Vec<Value>) -> Scripted {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let answers = Arc::new(Mutex::new(answers.into_iter()));
    let recorded = Arc::clone(&bodies);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let answers = Arc::clone(&answers);
            let recorded = Arc::clone(&recorded);
            std::thread::spawn(move || handle(stream, &answers, &recorded));
        }
    });
    Scripted { url, bodies }
}

fn handle(
    stream: TcpStream,
    answers: &Mutex<std::vec::IntoIter<Value>>,
    recorded: &Mutex<Vec<Value>>,
) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    loop {
        let mut length = 0;
        let mut line = String::new();
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        recorded
            .lock()
            .expect("lock")
            .push(serde_json::from_slice(&body).unwrap_or(Value::Null));
        let answer = answers
            .lock()
            .expect("lock")
            .next()
            .expect("no more scripted answers")
            .to_string();
        let response = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.1\r\nContent-Length: {}\r\n\r\n{answer}",
            answer.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}
