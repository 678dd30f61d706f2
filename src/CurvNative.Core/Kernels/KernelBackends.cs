using System.Numerics;

namespace CurvNative.Kernels;

/// <summary>Choosing a backend and making resident buffers for the library's own operators.</summary>
public static class KernelBackends
{
    private static readonly Lazy<IKernelBackend> _default = new(() =>
        NativeKernelBackend.IsAvailable(out _) ? new NativeKernelBackend() : new ManagedKernelBackend());

    /// <summary>
    /// The backend used where none is given: <see cref="NativeKernelBackend"/> when OpenBLAS loads, else
    /// <see cref="ManagedKernelBackend"/>. One instance per process, shared by every operator; do not dispose it.
    /// </summary>
    public static IKernelBackend Default => _default.Value;

    /// <summary><paramref name="backend"/>, or <see cref="Default"/> when it is null.</summary>
    public static IKernelBackend OrDefault(IKernelBackend? backend) => backend ?? Default;

    /// <summary>
    /// A buffer of <paramref name="backend"/> holding <paramref name="data"/>[offset .. offset + length): on a host
    /// backend the array itself when <paramref name="offset"/> is 0 (no copy: the caller must not change the array
    /// while the buffer is in use), otherwise one counted upload.
    /// </summary>
    internal static KernelBuffer<T> Resident<T>(IKernelBackend backend, T[] data, int offset, int length) where T : unmanaged, IFloatingPointIeee754<T>
        => backend is HostKernelBackend && offset == 0 ? new HostBuffer<T>(data, wrap: true) : backend.Upload<T>(data.AsSpan(offset, length));
}
