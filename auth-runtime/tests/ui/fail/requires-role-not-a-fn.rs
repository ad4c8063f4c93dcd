use auth_runtime::requires_role;

#[requires_role("admin")]
struct Handler;

fn main() {
    let _ = Handler;
}
