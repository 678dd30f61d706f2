using System.Numerics;

namespace CurvNative.Kernels;

/// <summary>Elementwise activation of a collapsed Taylor-mode layer (sigma, sigma', sigma'').</summary>
public enum TaylorActivation
{
    /// <summary>sigma(x) = x.</summary>
    Identity,
    /// <summary>sigma(x) = tanh x; sigma' = 1 - t^2, sigma'' = -2 t (1 - t^2).</summary>
    Tanh,
    /// <summary>sigma(x) = 1 / (1 + e^-x); sigma' = s (1 - s), sigma'' = s (1 - s)(1 - 2 s).</summary>
    Sigmoid,
    /// <summary>sigma(x) = sin x; sigma' = cos x, sigma'' = -sin x.</summary>
    Sin,
}

/// <summary>Counted host/device transfers of one backend (host backends count nothing: their buffers are the arrays).</summary>
public sealed class TransferCounter
{
    private long _uploads, _uploadBytes, _downloads, _downloadBytes;
    /// <summary>Host-to-device copies so far.</summary>
    public long Uploads => Interlocked.Read(ref _uploads);
    /// <summary>Bytes copied host-to-device so far.</summary>
    public long UploadBytes => Interlocked.Read(ref _uploadBytes);
    /// <summary>Device-to-host copies so far.</summary>
    public long Downloads => Interlocked.Read(ref _downloads);
    /// <summary>Bytes copied device-to-host so far.</summary>
    public long DownloadBytes => Interlocked.Read(ref _downloadBytes);
    internal void Upload(long bytes) { Interlocked.Increment(ref _uploads); Interlocked.Add(ref _uploadBytes, bytes); }
    internal void Download(long bytes) { Interlocked.Increment(ref _downloads); Interlocked.Add(ref _downloadBytes, bytes); }
    /// <summary>Records a transfer made by a backend outside this assembly.</summary>
    public void Record(bool toDevice, long bytes) { if (toDevice) Upload(bytes); else Download(bytes); }
}

/// <summary>
/// An array that lives with a backend across calls (a KFAC factor or eigenbasis, a Woodbury Jacobian, a network's
/// weights): uploaded once, disposed deterministically. On host backends it is the managed array itself.
/// </summary>
public abstract class KernelBuffer<T> : IDisposable where T : unmanaged
{
    /// <summary>Number of elements.</summary>
    public abstract long Length { get; }
    /// <summary>Copies the contents back to the host (one counted transfer on a device backend).</summary>
    public abstract void CopyTo(Span<T> destination);
    /// <summary>Releases device memory; idempotent.</summary>
    public abstract void Dispose();
}

/// <summary>
/// The kernel seam: the four hot kernel families of the library behind one interface, implemented by
/// <see cref="ManagedKernelBackend"/> (plain C#, the oracle), <see cref="NativeKernelBackend"/> (OpenBLAS + LAPACK,
/// the CPU default) and the ILGPU backend of CurvNative.Kernels.Gpu. All matrices are row-major, float or double.
/// Arguments are validated by every implementation through <see cref="KernelChecks"/>.
/// </summary>
public interface IKernelBackend : IDisposable
{
    /// <summary>Short name: managed, native, ilgpu.</summary>
    string Name { get; }
    /// <summary>The device the backend computes on (a CPU description for host backends).</summary>
    string DeviceName { get; }
    /// <summary>Transfers between host and device made by this backend.</summary>
    TransferCounter Transfers { get; }

    /// <summary>Uploads <paramref name="data"/> into a buffer that lives across calls.</summary>
    KernelBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>C[m,n] = alpha op(A) op(B) + beta C (row-major; op(A) is [m,k], op(B) is [k,n]).</summary>
    void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Family 1, Kronecker matmat: for each of the K columns v_j = vec(X_j), X_j [gDim, aDim] row-major,
    /// y_j = (G kron A) v_j = vec(G X_j A^T). <paramref name="v"/> and <paramref name="y"/> are [K, gDim*aDim].
    /// With G, A eigenbases (transposed as asked) this is also the EKFAC rotation; damped inverses are this
    /// product with the inverse factors or between two rotations.
    /// </summary>
    void KroneckerMatmat<T>(int gDim, int aDim, int k, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA,
        ReadOnlySpan<T> v, Span<T> y) where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Family 2, factor accumulation: F[d,d] = beta F + scale sum_i r_i r_i^T over the n rows r_i of
    /// <paramref name="rows"/> [n, d] (a SYRK; the full symmetric matrix is written).
    /// </summary>
    void AccumulateFactor<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Family 3, Woodbury solve: x = (lambda I_P + J^T J)^-1 g through the push-through identity
    /// x = (g - J^T (lambda I_N + J J^T)^-1 J g) / lambda, with J [N, P] resident, the N x N kernel J J^T
    /// assembled by the backend and factored by Cholesky. Returns 0, or the order of the leading minor that is
    /// not positive definite (then <paramref name="x"/> is not written).
    /// </summary>
    int WoodburySolve<T>(int n, int p, KernelBuffer<T> jacobian, T lambda, ReadOnlySpan<T> g, Span<T> x)
        where T : unmanaged, IFloatingPointIeee754<T>;

    /// <summary>
    /// Family 4, batched collapsed Taylor mode (forward Laplacian): for B points x_b in R^D through
    /// layers h_{l+1} = sigma_l(W_l h_l + b_l) returns the values f(x_b) [B, out] and the Laplacians
    /// sum_d d^2 f / dx_d^2 [B, out], propagating the value, the D first-order directions and one collapsed
    /// second-order coefficient per point (Bettencourt et al. 2019; Dangel et al. 2024, collapsed Taylor mode).
    /// </summary>
    void ForwardLaplacian<T>(TaylorNetwork<T> network, int batch, ReadOnlySpan<T> x, Span<T> values, Span<T> laplacians)
        where T : unmanaged, IFloatingPointIeee754<T>;
}

/// <summary>
/// A linear + elementwise-activation stack whose weights live with one backend (uploaded once).
/// Layer l has weights W_l [width_{l+1}, width_l], bias b_l and the activation applied after it.
/// </summary>
public sealed class TaylorNetwork<T> : IDisposable where T : unmanaged, IFloatingPointIeee754<T>
{
    /// <summary>Layer widths, input first.</summary>
    public IReadOnlyList<int> Widths { get; }
    /// <summary>Activations after each layer.</summary>
    public IReadOnlyList<TaylorActivation> Activations { get; }
    internal KernelBuffer<T>[] Weights { get; }
    internal KernelBuffer<T>[] Biases { get; }
    /// <summary>The backend that owns the buffers.</summary>
    public IKernelBackend Backend { get; }

    /// <summary>Uploads the weights [width_{l+1}, width_l] and biases [width_{l+1}] to <paramref name="backend"/>.</summary>
    public TaylorNetwork(IKernelBackend backend, IReadOnlyList<int> widths, IReadOnlyList<T[]> weights, IReadOnlyList<T[]> biases, IReadOnlyList<TaylorActivation> activations)
    {
        ArgumentNullException.ThrowIfNull(backend);
        ArgumentNullException.ThrowIfNull(widths);
        int layers = widths.Count - 1;
        if (layers < 1) throw new ArgumentException($"A network needs at least two widths (input and output), got {widths.Count}.", nameof(widths));
        if (weights.Count != layers || biases.Count != layers || activations.Count != layers)
            throw new ArgumentException($"Expected {layers} weights, biases and activations, got {weights.Count}, {biases.Count}, {activations.Count}.");
        for (int l = 0; l < layers; l++)
        {
            if (widths[l] < 0 || widths[l + 1] < 0) throw new ArgumentException($"Widths must be >= 0, got {widths[l]} and {widths[l + 1]}.", nameof(widths));
            if (weights[l].Length != (long)widths[l + 1] * widths[l]) throw new ArgumentException($"Layer {l}: weights have {weights[l].Length} elements, expected {widths[l + 1]} x {widths[l]}.", nameof(weights));
            if (biases[l].Length != widths[l + 1]) throw new ArgumentException($"Layer {l}: bias has {biases[l].Length} elements, expected {widths[l + 1]}.", nameof(biases));
        }
        Backend = backend;
        Widths = widths.ToArray();
        Activations = activations.ToArray();
        Weights = weights.Select(w => backend.Upload<T>(w)).ToArray();
        Biases = biases.Select(b => backend.Upload<T>(b)).ToArray();
    }

    /// <summary>Host copies of the weights (for host backends these are the arrays themselves).</summary>
    internal T[] HostWeights(int l) => ((HostBuffer<T>)Weights[l]).Data;
    internal T[] HostBiases(int l) => ((HostBuffer<T>)Biases[l]).Data;

    /// <inheritdoc />
    public void Dispose()
    {
        foreach (var w in Weights) w.Dispose();
        foreach (var b in Biases) b.Dispose();
    }
}

/// <summary>The buffer of host backends: the managed array.</summary>
public sealed class HostBuffer<T> : KernelBuffer<T> where T : unmanaged
{
    internal T[] Data { get; }
    /// <summary>Wraps a copy of <paramref name="data"/>.</summary>
    public HostBuffer(ReadOnlySpan<T> data) => Data = data.ToArray();
    /// <summary>Wraps <paramref name="data"/> itself (no copy; the array may be longer than the matrix it holds).</summary>
    internal HostBuffer(T[] data, bool wrap) => Data = wrap ? data : (T[])data.Clone();
    /// <inheritdoc />
    public override long Length => Data.Length;
    /// <inheritdoc />
    public override void CopyTo(Span<T> destination) => Data.AsSpan().CopyTo(destination);
    /// <inheritdoc />
    public override void Dispose() { }
}

/// <summary>Argument checks shared by all backends: what was expected and what came.</summary>
public static class KernelChecks
{
    /// <summary>Throws unless <paramref name="actual"/> &gt;= <paramref name="expected"/>.</summary>
    public static void Length(long actual, long expected, string name, string shape)
    {
        if (actual < expected) throw new ArgumentException($"{name} has {actual} elements, expected at least {expected} ({shape}).", name);
    }

    /// <summary>Throws on a negative dimension.</summary>
    public static void Dim(int value, string name)
    {
        if (value < 0) throw new ArgumentOutOfRangeException(name, $"{name} must be >= 0, got {value}.");
    }

    /// <summary>Checks a GEMM's arguments: C [m, n] = op(A) [m, k] op(B) [k, n].</summary>
    public static void Gemm(int m, int n, int k, int aLength, int bLength, int cLength)
    {
        Dim(m, nameof(m)); Dim(n, nameof(n)); Dim(k, nameof(k));
        Length(aLength, (long)m * k, "a", "m x k");
        Length(bLength, (long)k * n, "b", "k x n");
        Length(cLength, (long)m * n, "c", "m x n");
    }

    /// <summary>Checks a factor accumulation's arguments: rows [n, d], factor [d, d].</summary>
    public static void Accumulate(int n, int d, int rowsLength, int factorLength)
    {
        Dim(n, nameof(n)); Dim(d, nameof(d));
        Length(rowsLength, (long)n * d, "rows", "n x d");
        Length(factorLength, (long)d * d, "factor", "d x d");
    }

    /// <summary>Checks a Woodbury solve's arguments: J [N, P], g and x [P], damping lambda &gt; 0.</summary>
    public static void Woodbury<T>(int n, int p, long jacobianLength, int gLength, int xLength, T lambda) where T : unmanaged, IFloatingPointIeee754<T>
    {
        Dim(n, nameof(n)); Dim(p, nameof(p));
        Length(jacobianLength, (long)n * p, "jacobian", "N x P");
        Length(gLength, p, "g", "P");
        Length(xLength, p, "x", "P");
        if (!(lambda > T.Zero)) throw new ArgumentOutOfRangeException(nameof(lambda), $"The damping must be > 0, got {lambda}.");
    }

    /// <summary>Checks a Kronecker matmat's arguments.</summary>
    public static void Kronecker<T>(int gDim, int aDim, int k, KernelBuffer<T> g, KernelBuffer<T> a, int vLength, int yLength) where T : unmanaged
    {
        Dim(gDim, nameof(gDim)); Dim(aDim, nameof(aDim)); Dim(k, nameof(k));
        Length(g.Length, (long)gDim * gDim, "g", "gDim x gDim");
        Length(a.Length, (long)aDim * aDim, "a", "aDim x aDim");
        Length(vLength, (long)k * gDim * aDim, "v", "K x gDim*aDim");
        Length(yLength, (long)k * gDim * aDim, "y", "K x gDim*aDim");
    }

    /// <summary>Checks a Taylor sweep's arguments.</summary>
    public static void Taylor<T>(TaylorNetwork<T> network, IKernelBackend backend, int batch, int xLength, int valuesLength, int lapLength) where T : unmanaged, IFloatingPointIeee754<T>
    {
        ArgumentNullException.ThrowIfNull(network);
        if (!ReferenceEquals(network.Backend, backend)) throw new ArgumentException($"The network's buffers belong to backend '{network.Backend.Name}', not '{backend.Name}'.", nameof(network));
        Dim(batch, nameof(batch));
        int d = network.Widths[0], o = network.Widths[^1];
        Length(xLength, (long)batch * d, "x", "batch x D");
        Length(valuesLength, (long)batch * o, "values", "batch x out");
        Length(lapLength, (long)batch * o, "laplacians", "batch x out");
    }
}
