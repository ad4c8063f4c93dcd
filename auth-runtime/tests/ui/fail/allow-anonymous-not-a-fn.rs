use auth_runtime::allow_anonymous;

#[allow_anonymous]
const HANDLER: u8 = 0;

fn main() {
    let _ = HANDLER;
}
