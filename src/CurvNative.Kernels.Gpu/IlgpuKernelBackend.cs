using System.Numerics;
using System.Runtime.CompilerServices;
using CurvNative.Native;
using ILGPU;
using ILGPU.Algorithms;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using ILGPU.Runtime.Cuda;
using ILGPU.Runtime.OpenCL;

namespace CurvNative.Kernels.Gpu;

/// <summary>One accelerator ILGPU finds.</summary>
public sealed record IlgpuDeviceInfo(int Index, string Type, string Name, long MemoryBytes, int Multiprocessors, int MaxThreadsPerGroup, int SharedMemoryPerGroup, bool IsGpu);

/// <summary>A device-resident array of the ILGPU backend.</summary>
public sealed class IlgpuBuffer<T> : KernelBuffer<T> where T : unmanaged
{
    private readonly TransferCounter _counter;
    private MemoryBuffer1D<T, Stride1D.Dense>? _buffer;
    internal IlgpuBuffer(Accelerator accelerator, TransferCounter counter, long length)
    {
        _counter = counter;
        Length = length;
        _buffer = accelerator.Allocate1D<T>(Math.Max(1, length));
    }
    /// <inheritdoc />
    public override long Length { get; }
    internal ArrayView<T> View => (_buffer ?? throw new ObjectDisposedException(nameof(IlgpuBuffer<T>))).View;
    internal void Upload(ReadOnlySpan<T> data)
    {
        if (data.Length == 0) return;
        View.SubView(0, data.Length).CopyFromCPU(data);
        _counter.Record(true, (long)data.Length * Unsafe.SizeOf<T>());
    }
    /// <inheritdoc />
    public override void CopyTo(Span<T> destination)
    {
        KernelChecks.Length(destination.Length, Length, nameof(destination), "buffer length");
        if (Length == 0) return;
        View.SubView(0, Length).CopyToCPU(destination[..(int)Length]);
        _counter.Record(false, Length * Unsafe.SizeOf<T>());
    }
    /// <inheritdoc />
    public override void Dispose() { _buffer?.Dispose(); _buffer = null; }
}

/// <summary>
/// The ILGPU backend: every family runs in hand-written kernels (<see cref="GemmKernels"/>, <see cref="TaylorKernels"/>,
/// <see cref="WoodburyKernels"/>) on one accelerator (CUDA, OpenCL or ILGPU's CPU accelerator); Cholesky of the
/// Woodbury kernel runs on the host (LAPACK). Per-call operands are uploaded, results downloaded, all counted in
/// <see cref="IKernelBackend.Transfers"/>; long-lived operands are <see cref="KernelBuffer{T}"/>s.
/// </summary>
public sealed class IlgpuKernelBackend : IKernelBackend
{
    private readonly Context _context;
    private readonly Accelerator _accelerator;
    private readonly Dictionary<Type, object> _sets = new();

    /// <summary>
    /// The CPU accelerator ILGPU tests on: groups up to 256 threads (the GEMM's 16 x 16), like a GPU, so the same
    /// launch configurations run here and on devices.
    /// </summary>
    public static CPUDevice TestBedDevice { get; } = new(numThreadsPerWarp: 4, numWarpsPerMultiprocessor: 64, numMultiprocessors: 1);

    private static Context CreateContext() => Context.Create(b => b.Cuda().OpenCL().CPU(TestBedDevice).EnableAlgorithms());

    /// <summary>Accelerators found, GPUs first, then the CPU accelerator.</summary>
    public static IReadOnlyList<IlgpuDeviceInfo> ListDevices()
    {
        using var context = CreateContext();
        return Ordered(context).Select((d, i) => new IlgpuDeviceInfo(i, d.AcceleratorType.ToString(), d.Name, d.MemorySize, d.NumMultiprocessors,
            d.MaxNumThreadsPerGroup, d.MaxSharedMemoryPerGroup, d.AcceleratorType != AcceleratorType.CPU)).ToList();
    }

    private static List<Device> Ordered(Context context)
        => context.Devices.OrderBy(d => d.AcceleratorType == AcceleratorType.CPU ? 1 : 0).ToList();

    /// <summary>Creates the backend on device <paramref name="device"/> of <see cref="ListDevices"/> (0: the first GPU, or the CPU accelerator when there is none).</summary>
    public IlgpuKernelBackend(int device = 0)
    {
        _context = CreateContext();
        var devices = Ordered(_context);
        if (device < 0 || device >= devices.Count)
        {
            _context.Dispose();
            throw new ArgumentOutOfRangeException(nameof(device), $"ILGPU device {device} does not exist: {devices.Count} found (0..{devices.Count - 1}).");
        }
        _accelerator = devices[device].CreateAccelerator(_context);
        if (_accelerator.MaxNumThreadsPerGroup < GemmKernels.Tile * GemmKernels.Tile || _accelerator.MaxSharedMemoryPerGroup < 2 * GemmKernels.Tile * GemmKernels.Tile * sizeof(double))
        {
            string name = _accelerator.Name;
            _accelerator.Dispose(); _context.Dispose();
            throw new NotSupportedException($"ILGPU device {device} ({name}) allows fewer than {GemmKernels.Tile * GemmKernels.Tile} threads or {2 * GemmKernels.Tile * GemmKernels.Tile * sizeof(double)} bytes of shared memory per group.");
        }
    }

    /// <inheritdoc />
    public string Name => "ilgpu";
    /// <inheritdoc />
    public string DeviceName => $"{_accelerator.AcceleratorType}: {_accelerator.Name}";
    /// <inheritdoc />
    public TransferCounter Transfers { get; } = new();

    private abstract class KernelSet<T> where T : unmanaged
    {
        public abstract Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>> Gemm { get; }
        public abstract Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> Activate { get; }
        public abstract Action<Index1D, ArrayView<T>, ArrayView<T>, int> Broadcast { get; }
        public abstract Action<Index1D, ArrayView<T>, int, T> Identity { get; }
        public abstract Action<Index1D, ArrayView<T>, int, T> AddDiagonal { get; }
        public abstract Action<Index1D, ArrayView<T>, int> Symmetrize { get; }
    }

    private sealed class KernelSet<T, TOps>(Accelerator acc) : KernelSet<T> where T : unmanaged where TOps : struct, INumOps<T>
    {
        public override Action<KernelConfig, ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>> Gemm { get; } =
            acc.LoadStreamKernel<ArrayView<T>, ArrayView<T>, ArrayView<T>, GemmArgs<T>>(GemmKernels.Gemm<T, TOps>);
        public override Action<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int> Activate { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, ArrayView<T>, int, int, int>(TaylorKernels.Activate<T, TOps>);
        public override Action<Index1D, ArrayView<T>, ArrayView<T>, int> Broadcast { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, ArrayView<T>, int>(TaylorKernels.Broadcast<T>);
        public override Action<Index1D, ArrayView<T>, int, T> Identity { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, int, T>(TaylorKernels.Identity<T, TOps>);
        public override Action<Index1D, ArrayView<T>, int, T> AddDiagonal { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, int, T>(WoodburyKernels.AddDiagonal<T, TOps>);
        public override Action<Index1D, ArrayView<T>, int> Symmetrize { get; } =
            acc.LoadAutoGroupedStreamKernel<Index1D, ArrayView<T>, int>(GemmKernels.Symmetrize<T>);
    }

    private KernelSet<T> Set<T>() where T : unmanaged
    {
        lock (_sets)
        {
            if (_sets.TryGetValue(typeof(T), out var s)) return (KernelSet<T>)s;
            object created = typeof(T) == typeof(double) ? new KernelSet<double, F64Ops>(_accelerator)
                : typeof(T) == typeof(float) ? new KernelSet<float, F32Ops>(_accelerator)
                : throw new NotSupportedException($"The ILGPU kernels support float and double, not {typeof(T).Name}.");
            _sets[typeof(T)] = created;
            return (KernelSet<T>)created;
        }
    }

    private IlgpuBuffer<T> Alloc<T>(long length) where T : unmanaged => new(_accelerator, Transfers, length);

    private IlgpuBuffer<T> Up<T>(ReadOnlySpan<T> data) where T : unmanaged
    {
        var b = Alloc<T>(data.Length);
        b.Upload(data);
        return b;
    }

    /// <inheritdoc />
    public KernelBuffer<T> Upload<T>(ReadOnlySpan<T> data) where T : unmanaged, IFloatingPointIeee754<T> => Up(data);

    private static IlgpuBuffer<T> Own<T>(KernelBuffer<T> b, string name) where T : unmanaged
        => b as IlgpuBuffer<T> ?? throw new ArgumentException($"{name} is a {b.GetType().Name}, not a buffer of the ILGPU backend.", name);

    /// <summary>Launches C = alpha op(A) op(B) + beta C on device views (row-major, batched over grid Z).</summary>
    private void GemmDevice<T>(bool transA, bool transB, int m, int n, int k, T alpha, ArrayView<T> a, ArrayView<T> b, T beta, ArrayView<T> c,
        int batch = 1, long batchA = 0, long batchB = 0, long batchC = 0) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (m == 0 || n == 0 || batch == 0) return;
        var p = new GemmArgs<T>
        {
            M = m, N = n, K = k,
            RsA = transA ? 1 : k, CsA = transA ? m : 1, BatchA = batchA,
            RsB = transB ? 1 : n, CsB = transB ? k : 1, BatchB = batchB,
            Ldc = n, BatchC = batchC, Alpha = alpha, Beta = beta,
        };
        int t = GemmKernels.Tile;
        var config = new KernelConfig(new Index3D((n + t - 1) / t, (m + t - 1) / t, batch), new Index3D(t, t, 1));
        Set<T>().Gemm(config, a, b, c, p);
    }

    /// <inheritdoc />
    public void Gemm<T>(bool transA, bool transB, int m, int n, int k, T alpha, ReadOnlySpan<T> a, ReadOnlySpan<T> b, T beta, Span<T> c)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Gemm(m, n, k, a.Length, b.Length, c.Length);
        if (m == 0 || n == 0) return;
        using var da = Up(a[..(m * k)]); using var db = Up(b[..(k * n)]);
        using var dc = Alloc<T>((long)m * n);
        if (beta != T.Zero) dc.Upload(c[..(m * n)]);
        GemmDevice(transA, transB, m, n, k, alpha, da.View, db.View, beta, dc.View);
        dc.CopyTo(c);
    }

    /// <inheritdoc />
    public void KroneckerMatmat<T>(int gDim, int aDim, int k, KernelBuffer<T> g, bool transG, KernelBuffer<T> a, bool transA, ReadOnlySpan<T> v, Span<T> y)
        where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Kronecker(gDim, aDim, k, g, a, v.Length, y.Length);
        var dg = Own(g, nameof(g)); var da = Own(a, nameof(a));
        long size = (long)gDim * aDim;
        if (size == 0 || k == 0) return;
        using var dv = Up(v[..(int)(k * size)]);
        using var dt = Alloc<T>(k * size);
        using var dy = Alloc<T>(k * size);
        // T = X A^T over all K columns as one [K*gDim, aDim] GEMM, then Y_j = op(G) T_j as one batched GEMM (grid Z = K).
        GemmDevice(false, !transA, k * gDim, aDim, aDim, T.One, dv.View, da.View, T.Zero, dt.View);
        GemmDevice(transG, false, gDim, aDim, gDim, T.One, dg.View, dt.View, T.Zero, dy.View, k, 0, size, size);
        dy.CopyTo(y);
    }

    /// <inheritdoc />
    public void AccumulateFactor<T>(int n, int d, T scale, ReadOnlySpan<T> rows, T beta, Span<T> factor) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Accumulate(n, d, rows.Length, factor.Length);
        if (d == 0) return;
        using var dr = Up(rows[..(n * d)]);
        using var df = Alloc<T>((long)d * d);
        if (beta != T.Zero) df.Upload(factor[..(d * d)]);
        GemmDevice(true, false, d, d, n, scale, dr.View, dr.View, beta, df.View);
        df.CopyTo(factor);
    }

    /// <inheritdoc />
    public int WoodburySolve<T>(int n, int p, KernelBuffer<T> jacobian, T lambda, ReadOnlySpan<T> g, Span<T> x) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Woodbury(n, p, jacobian.Length, g.Length, x.Length, lambda);
        var dj = Own(jacobian, nameof(jacobian));
        if (p == 0) return 0;
        using var dg = Up(g[..p]);
        var kernel = new T[(long)n * n];
        var jg = new T[n];
        if (n > 0)
        {
            using var dk = Alloc<T>((long)n * n);
            GemmDevice(false, true, n, n, p, T.One, dj.View, dj.View, T.Zero, dk.View);
            Set<T>().AddDiagonal(n, dk.View, n, lambda);
            dk.CopyTo(kernel);
            int info = Lapack.TryCholesky<T>(n, kernel);
            if (info != 0) return info;
            using var djg = Alloc<T>(n);
            GemmDevice(false, false, n, 1, p, T.One, dj.View, dg.View, T.Zero, djg.View);
            djg.CopyTo(jg);
            Lapack.CholeskySolve<T>(n, 1, kernel, jg);
        }
        using var dy = Up<T>(jg);
        using var dx = Up(g[..p]);
        // x = g / lambda - J^T y / lambda.
        T inv = T.One / lambda;
        GemmDevice(true, false, p, 1, n, -inv, dj.View, dy.View, inv, dx.View);
        dx.CopyTo(x);
        return 0;
    }

    /// <inheritdoc />
    public void ForwardLaplacian<T>(TaylorNetwork<T> network, int batch, ReadOnlySpan<T> x, Span<T> values, Span<T> laplacians) where T : unmanaged, IFloatingPointIeee754<T>
    {
        KernelChecks.Taylor(network, this, batch, x.Length, values.Length, laplacians.Length);
        int d = network.Widths[0], o = network.Widths[^1];
        if (batch == 0) return;
        var set = Set<T>();
        var h = Up(x[..(batch * d)]);
        var dirs = Alloc<T>((long)batch * d * d);
        var lap = Alloc<T>((long)batch * d);
        try
        {
            if (d > 0) { set.Identity(batch * d * d, dirs.View, d, T.One); lap.View.SubView(0, batch * d).MemSetToZero(); }
            for (int l = 0; l < network.Widths.Count - 1; l++)
            {
                int win = network.Widths[l], wout = network.Widths[l + 1];
                var w = Own(network.Weights[l], "weights"); var bias = Own(network.Biases[l], "biases");
                var h2 = Alloc<T>((long)batch * wout);
                var dirs2 = Alloc<T>((long)batch * d * wout);
                var lap2 = Alloc<T>((long)batch * wout);
                if (wout > 0)
                {
                    set.Broadcast(batch * wout, h2.View, bias.View, wout);
                    GemmDevice(false, true, batch, wout, win, T.One, h.View, w.View, T.One, h2.View);
                    GemmDevice(false, true, batch * d, wout, win, T.One, dirs.View, w.View, T.Zero, dirs2.View);
                    GemmDevice(false, true, batch, wout, win, T.One, lap.View, w.View, T.Zero, lap2.View);
                    if (network.Activations[l] != TaylorActivation.Identity)
                        set.Activate(batch * wout, h2.View, dirs2.View, lap2.View, d, wout, (int)network.Activations[l]);
                }
                h.Dispose(); dirs.Dispose(); lap.Dispose();
                h = h2; dirs = dirs2; lap = lap2;
            }
            if (o > 0)
            {
                h.View.SubView(0, batch * o).CopyToCPU(values[..(batch * o)]);
                lap.View.SubView(0, batch * o).CopyToCPU(laplacians[..(batch * o)]);
                Transfers.Record(false, (long)batch * o * Unsafe.SizeOf<T>());
                Transfers.Record(false, (long)batch * o * Unsafe.SizeOf<T>());
            }
        }
        finally { h.Dispose(); dirs.Dispose(); lap.Dispose(); }
    }

    /// <summary>Waits for the accelerator (timing).</summary>
    public void Synchronize() => _accelerator.Synchronize();

    /// <inheritdoc />
    public void Dispose()
    {
        _accelerator.Dispose();
        _context.Dispose();
    }
}
