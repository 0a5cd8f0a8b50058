use std::time::Instant;
fn main() {
    let n = 40;
    for round in 0..2 {
        let t = Instant::now();
        for _ in 0..n { let _ = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap(); }
        let a = t.elapsed() / n;
        let t = Instant::now();
        
        for _ in 0..n { let k: rsa::PrivateKey = rsa::Generate::generate(); assert_eq!(rsa::traits::PublicKeyParts::size(&k), 256); }
        let b = t.elapsed() / n;
        let t = Instant::now();
        for _ in 0..1000 { let _ = aws_lc_rs::signature::EcdsaKeyPair::generate(&aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING).unwrap(); }
        let c = t.elapsed() / 1000;
        println!("round {round}: rsa2048 aws-lc {a:?}  rsa-crate {b:?}  p256 aws-lc {c:?}");
    }
}
